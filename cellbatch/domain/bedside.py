"""The bedside check (GMP-30): the patient's wristband against the bag's label.

A wristband is read by one of :data:`WRISTBAND_PATTERNS` (each a regular expression with the
groups ``hospital`` and ``recipient``): the hospital's barcode ``HOSPITAL-NUMBER^RECIPIENT-ID``,
or a GS1 element string with the patient's GSRN (AI 8018) and the recipient ID in a company
internal field (AI 91). The verdict is MATCH only when nothing in :func:`mismatches` is found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from cellbatch import units
from cellbatch.domain.errors import InvalidInput

WRISTBAND_PATTERNS: dict[str, re.Pattern[str]] = {
    "hospital barcode": re.compile(
        r"(?P<hospital>[A-Z0-9-]{1,20})\^(?P<recipient>[A-Z]{2,8}-P[0-9]{3})"
    ),
    "GS1": re.compile(r"\(8018\)(?P<hospital>[0-9]{18})\(91\)(?P<recipient>[A-Z]{2,8}-P[0-9]{3})"),
}
"""The wristband formats the site's wards use, by name (docs/clinic.md)."""

FATES = ("infused", "partly-infused", "not-infused", "discarded")
"""What became of a bag at the bedside."""

GIVEN = ("infused", "partly-infused")
"""Fates by which the infusion took place."""

INFUSED_FRACTION = 0.9
"""A bag is ``infused`` when at least this share of its volume was given (the rest is the
line's and the bag's dead volume); less is ``partly-infused`` (docs/clinic.md)."""


def check_infusion(
    fate: str,
    *,
    started: datetime | None,
    stopped: datetime | None,
    volume_ml: float | None,
    bag_volume_ml: float | None,
    reaction: str,
    grade: int | None,
    reason: str | None,
    checked_at: datetime,
    latest: datetime,
) -> None:
    """Refuse an infusion record that cannot be true, naming the option (InvalidInput).

    ``checked_at`` is the bedside check's time (the infusion starts no earlier than its
    minute: the bag was issued and received before it); ``latest`` is now plus the clocks'
    tolerance (nothing stops in the future). ``bag_volume_ml`` is the bag's fill volume.
    """
    if fate not in FATES:
        raise InvalidInput("--fate", f"expected one of {', '.join(FATES)}, got {fate!r}")
    has_reaction = reaction.strip().lower() != "none"
    if has_reaction and grade is None:
        raise InvalidInput("--grade", "a reaction needs its grade (1 to 5)")
    if not has_reaction and grade is not None:
        raise InvalidInput("--grade", "a grade is given with a reaction; --reaction is none")
    if grade is not None and not 1 <= grade <= 5:
        raise InvalidInput("--grade", f"expected a grade from 1 to 5, got {grade}")
    if fate not in GIVEN:
        for option, value in (("--start", started), ("--stop", stopped), ("--volume", volume_ml)):
            if value is not None:
                raise InvalidInput(option, f"a bag {fate} was not given: leave {option} out")
        if has_reaction:
            raise InvalidInput("--reaction", f"a bag {fate} was not given: the reaction is none")
        if not reason:
            raise InvalidInput("--reason", f"a bag {fate} needs the reason")
        return
    if started is None or stopped is None or volume_ml is None:
        raise InvalidInput("--start", "an infusion given needs --start, --stop and --volume")
    if stopped <= started:
        raise InvalidInput("--stop", "expected the stop after the start")
    first = checked_at.replace(second=0, microsecond=0)
    if started < first:
        raise InvalidInput(
            "--start",
            f"{started:%Y-%m-%d %H:%M} UTC is before the bedside check "
            f"({checked_at:%Y-%m-%d %H:%M} UTC): the infusion starts after the check",
        )
    if stopped > latest:
        raise InvalidInput("--stop", f"{stopped:%Y-%m-%d %H:%M} UTC is in the future")
    if volume_ml <= 0:
        raise InvalidInput("--volume", "an infusion given has a volume above 0 mL")
    if bag_volume_ml is None:
        return
    shown, bag = units.fmt(volume_ml, "volume"), units.fmt(bag_volume_ml, "volume")
    if volume_ml > bag_volume_ml:
        raise InvalidInput("--volume", f"{shown} is more than the bag holds ({bag})")
    least = INFUSED_FRACTION * bag_volume_ml
    least_shown = f"{INFUSED_FRACTION * 100:.0f} % of {bag}, {units.fmt(least, 'volume')}"
    if fate == "infused" and volume_ml < least:
        raise InvalidInput(
            "--volume", f"{shown} is partly-infused: infused means at least {least_shown}"
        )
    if fate == "partly-infused" and volume_ml >= least:
        raise InvalidInput(
            "--volume", f"{shown} is infused: partly-infused means less than {least_shown}"
        )


@dataclass(frozen=True)
class Wristband:
    """What a wristband scan says: the hospital's number and the recipient ID."""

    hospital: str
    recipient: str
    pattern: str


GS = "\x1d"
"""The group separator a scanner sends for a GS1 bar code's FNC1 between elements."""

GS1_SYMBOLOGIES = ("]C1", "]D2", "]Q3", "]E0")
"""Symbology identifiers of GS1 bar codes (GS1-128, GS1 DataMatrix, GS1 QR, DataBar), as
read after upper-casing; a scanner may send one before the element string."""

_GS1_LENGTHS = {"8018": 18, "91": None}
"""The wristband's GS1 application identifiers: the GSRN (fixed, 18 digits) and the
company-internal field (variable, ended by GS or the end)."""


def gs1_as_printed(text: str) -> str:
    """A raw GS1 element string (``]C1`` + ``8018…<GS>91…``) in its printed form, ``(8018)…(91)…``.

    What a scanner sends for a GS1 wristband: an optional symbology identifier, then each
    element's application identifier and data, a variable-length element ended by GS (FNC1),
    in either order. Anything that does not read so is returned unchanged.
    """
    rest = text
    for symbology in GS1_SYMBOLOGIES:
        if rest.startswith(symbology):
            rest = rest[len(symbology) :]
            break
    elements: dict[str, str] = {}
    while rest:
        if rest.startswith(GS):
            rest = rest[1:]
            continue
        ai = next((a for a in _GS1_LENGTHS if rest.startswith(a)), None)
        if ai is None or ai in elements:
            return text
        rest = rest[len(ai) :]
        length = _GS1_LENGTHS[ai]
        if length is None:
            value, _, rest = rest.partition(GS)
        else:
            value, rest = rest[:length], rest[length:]
        elements[ai] = value
    if set(elements) != set(_GS1_LENGTHS):
        return text
    return "".join(f"({ai}){elements[ai]}" for ai in _GS1_LENGTHS)


def read_wristband(scan: str, field: str = "--wristband") -> Wristband:
    """The wristband's hospital number and recipient ID, else InvalidInput naming ``field``.

    A GS1 wristband is read as printed, ``(8018)GSRN(91)RECIPIENT-ID``, or as a scanner sends
    it (:func:`gs1_as_printed`).
    """
    text = gs1_as_printed(scan.strip().upper())
    for name, pattern in WRISTBAND_PATTERNS.items():
        found = pattern.fullmatch(text)
        if found:
            return Wristband(found["hospital"], found["recipient"], name)
    raise InvalidInput(
        field,
        "expected a wristband scan: HOSPITAL-NUMBER^RECIPIENT-ID (hospital barcode) or "
        "(8018)GSRN(91)RECIPIENT-ID (GS1)",
    )


@dataclass(frozen=True)
class BagFacts:
    """What the record says about the scanned bag, for the verdict."""

    recipient: str | None
    infusion: int | None
    status: str
    expires_at: datetime
    holds: list[str]
    received: bool
    """Whether the ward has received the bag (its custody's receipt)."""
    label_version: int | None = None
    """The content version of the bag's label in force (None: no label of it was printed)."""
    label_coi: str | None = None
    """The chain-of-identity identifier the bag's label in force carries, if any."""
    fate: str | None = None
    """The bag's fate when its infusion record is written already (then it is not given)."""


COI_ON_LABEL = "CoI on the bag's label (content v2): its scan required"
COI_LABEL_V1 = "label printed before labels carried the CoI (content v1): checked without it"
COI_NONE_ON_LABEL = "no CoI on the bag's label (none assigned to the therapy): checked without it"
COI_NO_LABEL = "no label of the bag printed in cellbatch: checked without the CoI"


def coi_rule(label_version: int | None, label_coi: str | None) -> str:
    """Which chain-of-identity rule a check of this bag is made under (kept with the check).

    A bag whose label in force carries the CoI is checked with it (its scan is required);
    a bag labelled before labels carried it (content version 1), or whose therapy has none,
    or that has no label printed, keeps the rule of before: DIN and product code.
    """
    if label_coi is not None:
        return COI_ON_LABEL
    if label_version is None:
        return COI_NO_LABEL
    if label_version < 2:
        return COI_LABEL_V1
    return COI_NONE_ON_LABEL


def mismatches(
    wristband: Wristband,
    hospital_on_record: str | None,
    bag: BagFacts,
    next_infusion: int | None,
    now: datetime,
    coi_scanned: tuple[str, ...] = (),
    coi_on_record: str | None = None,
) -> list[str]:
    """Every reason the bag may not be given to the patient wearing this wristband.

    A bag the ward has not received is not given: its transport is not on record.

    ``coi_scanned`` are the chain-of-identity identifiers scanned with the bag (Data Structure
    040, as bar-coded); each must be the wristband's recipient's therapy (``coi_on_record``).
    When the bag's label carries the identifier (:func:`coi_rule`), it must be scanned (the
    label's Data Matrix holds it) and be the recipient's therapy.
    """
    found = []
    if bag.label_coi is not None:
        if not coi_scanned:
            found.append(
                "the bag's label carries its chain-of-identity identifier: scan it (the "
                "label's Data Matrix)"
            )
        if bag.label_coi != coi_on_record:
            found.append(
                f"the bag's label carries the chain-of-identity identifier {bag.label_coi}, "
                f"not {wristband.recipient}'s therapy ({coi_on_record or 'none on record'})"
            )
    for coi in coi_scanned:
        if coi != coi_on_record:
            found.append(
                f"the chain-of-identity identifier scanned ({coi}) is not "
                f"{wristband.recipient}'s therapy ({coi_on_record or 'none on record'})"
            )
    if bag.recipient != wristband.recipient:
        found.append(
            f"the bag is for {bag.recipient or 'no recipient'}, the wristband is "
            f"{wristband.recipient}'s"
        )
    if hospital_on_record != wristband.hospital:
        found.append(
            f"the wristband's hospital number is not {wristband.recipient}'s hospital number "
            "on record"
        )
    if next_infusion is None:
        found.append(f"{wristband.recipient} has no planned infusion left to give")
    elif bag.infusion != next_infusion:
        found.append(
            f"the bag is for infusion {bag.infusion}; {wristband.recipient}'s next infusion "
            f"is {next_infusion}"
        )
    if bag.status != "released":
        found.append(f"the bag's batch is {bag.status}, not released")
    if now >= bag.expires_at:
        found.append(f"the bag expired at {bag.expires_at:%Y-%m-%d %H:%M} UTC")
    found.extend(f"ON HOLD: {h}" for h in bag.holds)
    if bag.fate is not None:
        found.append(f"the bag's fate is recorded already: {bag.fate}")
    if not bag.received:
        found.append("the bag has not been received on the ward (custody receive)")
    return found
