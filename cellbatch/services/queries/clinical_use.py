"""What became of a dose batch's bag after it left the cleanroom, in the record's words.

Its issue and every hand-over (the chain of custody), every bedside check with its verdict
and reasons (GMP-30), and the infusion record: the batch record, its electronic copy, the QA
review (``review``, the review screen) all read :class:`ClinicalUse` and print its sentences
(:meth:`ClinicalUse.lines`), so the wording is one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session

from cellbatch import units
from cellbatch.db.tables import Bag, BagCustody, Batch, BedsideCheck, InfusionRecord, User
from cellbatch.domain import bedside
from cellbatch.domain.errors import RuleViolation
from cellbatch.domain.timeparse import as_utc, iso_utc
from cellbatch.services.queries.plain import Person, Plain, Quantity
from cellbatch.services.queries.shown_values import shown_time
from cellbatch.services.queries.storage import bag_storage

_KINDS = {"issue": "Issued", "hand-over": "Handed over", "receipt": "Received"}
_FATES = {
    "infused": "Infused",
    "partly-infused": "Partly infused",
    "not-infused": "Not infused",
    "discarded": "Discarded",
}


def _quantity(value: float | None, measure: str) -> Quantity | None:
    if value is None:
        return None
    m = units.MEASURES[measure]
    return Quantity(value, m.canonical, units.fmt(value, measure))


def _storage_range(session: Session, bag: Bag) -> str | None:
    """The bag's storage range as its receipt was checked (None if no settings give one)."""
    try:
        return bag_storage(session, bag).range.text()
    except RuleViolation:
        return None


def _time(iso: str | None) -> str:
    return shown_time(iso) if iso else "—"


@dataclass(frozen=True)
class CustodyView(Plain):
    """One step of a bag's chain of custody: its issue, a hand-over, its receipt on the ward."""

    ref: str
    kind: str
    """``issue``, ``hand-over`` or ``receipt``."""
    bag: int
    at: str
    handed_over_by: Person
    taken_by: Person
    container: str | None
    temperature: Quantity | None
    logger: str | None = None
    """The temperature logger packed at the issue (its ID)."""
    condition: str | None = None
    """The container's condition on arrival (a receipt)."""
    readings: int | None = None
    """How many logger readings of the transport were read (a receipt)."""
    lowest: Quantity | None = None
    highest: Quantity | None = None
    excursion: str | None = None
    """What left the transport range (the bag was put on hold)."""
    storage_range: str | None = None
    """The bag's storage range the receipt was checked against (``15–25 °C``)."""

    def text(self) -> str:
        """``C1 Issued by … to … at 2026-… UTC; transport container: …; temperature 6 °C``."""
        if self.kind == "receipt":
            words = (
                f"{self.ref} Received on the ward by {self.taken_by.shown()} from "
                f"{self.handed_over_by.shown()} at {_time(self.at)}"
            )
        else:
            words = (
                f"{self.ref} {_KINDS.get(self.kind, self.kind)} by "
                f"{self.handed_over_by.shown()} to {self.taken_by.shown()} at {_time(self.at)}"
            )
        if self.container:
            words += f"; transport container: {self.container}"
        if self.logger and self.kind == "issue":
            words += f"; temperature logger {self.logger}"
        if self.condition:
            words += f"; container on arrival: {self.condition}"
        if self.kind == "receipt" and self.readings and self.lowest and self.highest:
            span = (
                f"from {self.lowest.display} to {self.highest.display}"
                if self.readings > 1
                else self.lowest.display
            )
            plural = "s" if self.readings != 1 else ""
            words += f"; in transit (logger {self.logger}): {self.readings} reading{plural} {span}"
        if self.temperature is not None:
            on = " on arrival" if self.kind == "receipt" else ""
            words += f"; temperature{on} {self.temperature.display}"
        if self.kind == "receipt":
            words += (
                f"; TEMPERATURE EXCURSION: {self.excursion}"
                if self.excursion
                else f"; within {self.storage_range or 'its storage range'}"
            )
        return words


@dataclass(frozen=True)
class BedsideCheckView(Plain):
    """One bedside check of this batch's bag, MATCH or NO MATCH, with its reasons."""

    ref: str
    bag: int | None
    at: str
    checked_by: Person
    second_by: Person
    wristband_recipient: str | None
    match: bool
    reasons: str
    """Why it said NO MATCH, as recorded (empty for a MATCH)."""
    coi_rule: str | None = None
    """The chain-of-identity rule it was made under (``domain.bedside.coi_rule``); None for
    a check made before the rule was recorded, or of no bag found."""

    def text(self) -> str:
        """``BC2 MATCH at …: checked by … and …; wristband RA-P001`` (NO MATCH with reasons)."""
        words = (
            f"{self.ref} {'MATCH' if self.match else 'NO MATCH'} at {_time(self.at)}: "
            f"checked by {self.checked_by.shown()} and {self.second_by.shown()}; "
            f"wristband {self.wristband_recipient or 'not read'}"
        )
        if self.coi_rule:
            words += f"; {self.coi_rule}"
        if self.reasons:
            words += f"; {self.reasons}"
        return words


@dataclass(frozen=True)
class InfusionView(Plain):
    """The infusion record of a bag: when, how much, reactions, the bag's fate."""

    ref: str
    bag: int
    check: str | None
    """The bedside check it follows (``BC2``)."""
    fate: str
    started_at: str | None
    stopped_at: str | None
    volume: Quantity | None
    reaction: str
    reaction_grade: int | None
    reason: str | None
    recorded_at: str
    recorded_by: Person

    def text(self) -> str:
        """``IR1 Infused: 40 mL from … to …; no reaction; after BC2; recorded by … at …``."""
        words = f"{self.ref} {_FATES.get(self.fate, self.fate)}"
        if self.fate in bedside.GIVEN:
            volume = self.volume.display if self.volume else "volume not recorded"
            words += f": {volume} from {_time(self.started_at)} to {_time(self.stopped_at)}"
        if self.reason:
            words += f": {self.reason}" if self.fate not in bedside.GIVEN else f"; {self.reason}"
        if self.reaction.lower() == "none":
            words += "; no reaction"
        else:
            words += f"; reaction: {self.reaction}, grade {self.reaction_grade}"
        if self.check:
            words += f"; after bedside check {self.check}"
        return words + f"; recorded by {self.recorded_by.shown()} at {_time(self.recorded_at)}"


@dataclass(frozen=True)
class ClinicalUse(Plain):
    """A dose batch's bag from its issue to the vein (empty for a bank)."""

    applies: bool
    """True for a dose batch (a bank's vials are not issued to a ward)."""
    custody: tuple[CustodyView, ...]
    bedside_checks: tuple[BedsideCheckView, ...]
    infusions: tuple[InfusionView, ...]

    def lines(self) -> tuple[str, ...]:
        """Every step as a sentence, in the order custody, bedside checks, infusion."""
        if not self.applies:
            return ()
        if not (self.custody or self.bedside_checks or self.infusions):
            return ("The bag has not been issued.",)
        lines = [c.text() for c in self.custody]
        if not self.custody:
            lines.append("The bag has not been issued.")
        lines += [c.text() for c in self.bedside_checks]
        lines += [i.text() for i in self.infusions]
        return tuple(lines)


def clinical_use(session: Session, batch: Batch) -> ClinicalUse:
    """The issue, hand-overs, bedside checks and infusion records of ``batch``'s bags.

    Four statements whatever the batch: the bags, the custody steps, the checks, the
    infusion records, and one more for the people named.
    """
    if batch.kind != "dose":
        return ClinicalUse(applies=False, custody=(), bedside_checks=(), infusions=())
    bag_rows = {
        b.id: b for b in session.execute(select(Bag).where(Bag.batch_id == batch.id)).scalars()
    }
    bags = {key: b.number for key, b in bag_rows.items()}
    custody = list(
        session.execute(
            select(BagCustody).where(BagCustody.batch_id == batch.id).order_by(BagCustody.id)
        ).scalars()
    )
    checks = list(
        session.execute(
            select(BedsideCheck).where(BedsideCheck.batch_id == batch.id).order_by(BedsideCheck.id)
        ).scalars()
    )
    infusions = list(
        session.execute(
            select(InfusionRecord)
            .where(InfusionRecord.batch_id == batch.id)
            .order_by(InfusionRecord.id)
        ).scalars()
    )
    ids = {c.from_user for c in custody} | {c.to_user for c in custody}
    ids |= {c.checked_by for c in checks} | {c.second_by for c in checks}
    ids |= {i.recorded_by for i in infusions}
    people = {}
    if ids:
        people = {
            u.id: Person(u.username, u.full_name)
            for u in session.execute(select(User).where(User.id.in_(ids))).scalars()
        }

    def when(moment) -> str | None:
        return iso_utc(as_utc(moment)) if moment is not None else None

    return ClinicalUse(
        applies=True,
        custody=tuple(
            CustodyView(
                ref=f"C{c.id}",
                kind=c.kind,
                bag=bags[c.bag_id],
                at=when(c.at),
                handed_over_by=people[c.from_user],
                taken_by=people[c.to_user],
                container=c.container,
                temperature=_quantity(c.temperature_c, "temperature"),
                logger=c.logger_id,
                condition=c.condition,
                readings=c.readings,
                lowest=_quantity(c.temperature_min_c, "temperature"),
                highest=_quantity(c.temperature_max_c, "temperature"),
                excursion=c.excursion,
                storage_range=(
                    _storage_range(session, bag_rows[c.bag_id]) if c.kind == "receipt" else None
                ),
            )
            for c in custody
        ),
        bedside_checks=tuple(
            BedsideCheckView(
                ref=f"BC{c.id}",
                bag=bags.get(c.bag_id),
                at=when(c.checked_at),
                checked_by=people[c.checked_by],
                second_by=people[c.second_by],
                wristband_recipient=c.wristband_recipient,
                match=c.match,
                reasons=c.reasons,
                coi_rule=c.coi_rule,
            )
            for c in checks
        ),
        infusions=tuple(
            InfusionView(
                ref=f"IR{i.id}",
                bag=bags[i.bag_id],
                check=f"BC{i.check_id}" if i.check_id else None,
                fate=i.fate,
                started_at=when(i.started_at),
                stopped_at=when(i.stopped_at),
                volume=_quantity(i.volume_ml, "volume"),
                reaction=i.reaction,
                reaction_grade=i.reaction_grade,
                reason=i.fate_reason,
                recorded_at=when(i.recorded_at),
                recorded_by=people[i.recorded_by],
            )
            for i in infusions
        ),
    )
