"""A bag's storage range, its transport from the cleanroom to the ward, and the verdict.

The range a dose's bag is kept in is the product's **storage range** (:class:`StorageRange`),
held once: in the approved site settings, beside the storage instruction the bag's label
prints (``products.<key>.storage_range``, docs/clinic.md "Storage range"). The label's text,
the accompanying document, the issue's check and the receipt's check all read it from there.

A temperature logger packed at the issue gives readings; only those between the issue and
the receipt count. Any reading outside the range is an excursion: the receipt is recorded,
and the bag is put on hold. A temperature outside what a transport logger can plausibly read
(``plausible.TRANSPORT_TEMPERATURE_C``, -90 to 60 °C) is refused wherever it is typed or read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cellbatch import units
from cellbatch.domain import plausible as bounds
from cellbatch.domain.errors import InvalidInput

CLOCK_TOLERANCE = timedelta(minutes=5)
"""How far a logger's clock may run ahead of cellbatch's: readings up to this after the
receipt are not counted (unpacking); later ones are refused (a wrong clock or another file)."""


def plausible(celsius: float, field: str, where: str = "") -> float:
    """``celsius`` if a transport reading can be it, else refused naming ``field``.

    The bound is ``plausible.TRANSPORT_TEMPERATURE_C``; ``where`` is a logger file's line.
    """
    return bounds.transport_temperature(celsius, field, where)


RESOLUTION_C = 0.01
"""Temperatures are compared with the range to 0.01 °C (a transport logger reads to 0.1 °C at
best): a unit's conversion error (77 °F is 25.000000000000057 °C) must not turn a reading on
the bound into an excursion, nor a message say '25 °C is outside 15–25 °C'."""


def _resolved(celsius: float) -> float:
    return round(celsius, 2)  # RESOLUTION_C


@dataclass(frozen=True)
class StorageRange:
    """The temperatures a product is kept in, inclusive: two pint quantities (°C)."""

    low: Any
    """Lowest temperature, a ``pint.Quantity`` in degC."""
    high: Any
    """Highest temperature, a ``pint.Quantity`` in degC."""

    @classmethod
    def parse(cls, low: str, high: str, field: str) -> StorageRange:
        """The range from two typed temperatures (``"15 degC"``, ``"25 °C"``), checked.

        Each must be a plausible transport temperature and the lower below the upper;
        refusals name ``field``.
        """
        low_c = plausible(units.parse(low, "temperature", field=field), field)
        high_c = plausible(units.parse(high, "temperature", field=field), field)
        if low_c >= high_c:
            raise InvalidInput(
                field, f"the lower temperature ({low_c:g} °C) must be below the upper "
                f"({high_c:g} °C)",
            )  # fmt: skip
        quantity = units.registry().Quantity
        return cls(quantity(low_c, "degC"), quantity(high_c, "degC"))

    @property
    def low_c(self) -> float:
        """The lower bound in °C."""
        return float(self.low.to("degC").magnitude)

    @property
    def high_c(self) -> float:
        """The upper bound in °C."""
        return float(self.high.to("degC").magnitude)

    def contains(self, celsius: float) -> bool:
        """Whether a temperature in °C is within the range (bounds included)."""
        return _resolved(self.low_c) <= _resolved(celsius) <= _resolved(self.high_c)

    def distance(self, celsius: float) -> float:
        """How far a temperature in °C is outside the range (0 inside)."""
        if self.contains(celsius):
            return 0.0
        return max(self.low_c - celsius, celsius - self.high_c, 0.0)

    def text(self) -> str:
        """The range as people read it, as a label prints it: ``15–25 °C``."""
        return f"{self.low_c:g}–{self.high_c:g} °C"


def readings_text(readings: int, lowest: float, highest: float) -> str:
    """``4 readings 4.2–6.8 °C`` (``1 reading 9.5 °C``)."""
    if readings == 1 or lowest == highest:
        span = f"{lowest:g} °C"
    else:
        span = f"{lowest:g}–{highest:g} °C"
    return f"{readings} reading{'s' if readings != 1 else ''} {span}"


@dataclass(frozen=True)
class Reading:
    """One temperature reading: when, the temperature in °C, and its line in the file."""

    at: datetime
    celsius: float
    line: int | None = None


@dataclass(frozen=True)
class Transit:
    """What the readings of one transport say."""

    readings: int
    lowest: float
    highest: float
    excursion: str | None
    """Which readings left the range (None: the bag stayed in it)."""
    before_issue: int = 0
    """Readings before the issue (the logger running before packing): not counted."""
    after_receipt: int = 0
    """Readings just after the receipt (within :data:`CLOCK_TOLERANCE`): not counted."""

    def uncounted(self) -> str:
        """``; not counted: 1 reading before the issue`` (empty when every reading counted)."""
        parts = []
        if self.before_issue:
            plural = "s" if self.before_issue != 1 else ""
            parts.append(f"{self.before_issue} reading{plural} before the issue")
        if self.after_receipt:
            plural = "s" if self.after_receipt != 1 else ""
            parts.append(f"{self.after_receipt} reading{plural} after the receipt")
        return f"; not counted: {', '.join(parts)}" if parts else ""


def transit(
    readings: list[Reading],
    issued: datetime,
    received: datetime,
    field: str,
    storage: StorageRange,
) -> Transit:
    """The readings from the issue to the receipt, and any that left the storage range.

    A reading before the issue (the logger running before packing) is not counted, and said;
    one after the receipt beyond :data:`CLOCK_TOLERANCE` (a reading of the future, a wrong
    clock or another transport's file) is refused naming ``field`` and its line; no reading
    between the issue and the receipt is refused too.
    """
    late = [r for r in readings if r.at > received + CLOCK_TOLERANCE]
    if late:
        first = late[0]
        line = f"line {first.line}: " if first.line else ""
        raise InvalidInput(
            field,
            f"{line}reading at {first.at:%Y-%m-%d %H:%M} UTC is after the receipt "
            f"({received:%Y-%m-%d %H:%M} UTC): a reading cannot come from the future (the "
            "logger's clock, or another transport's file)",
        )
    inside = [r for r in readings if issued <= r.at <= received]
    before = sum(1 for r in readings if r.at < issued)
    after = sum(1 for r in readings if r.at > received)
    if not inside:
        raise InvalidInput(
            field,
            f"no reading between the issue ({issued:%Y-%m-%d %H:%M} UTC) and the receipt "
            f"({received:%Y-%m-%d %H:%M} UTC): expected the logger's readings of this transport",
        )
    out = [r for r in inside if not storage.contains(r.celsius)]
    excursion = None
    if out:
        worst = max(out, key=lambda r: storage.distance(r.celsius))
        when = (
            f"from {out[0].at:%Y-%m-%d %H:%M} to {out[-1].at:%Y-%m-%d %H:%M} UTC; "
            if len(out) > 1
            else ""
        )
        excursion = (
            f"{len(out)} of {len(inside)} reading(s) outside {storage.text()} in transit, "
            f"{when}worst {worst.celsius:g} °C at {worst.at:%Y-%m-%d %H:%M} UTC"
        )
    return Transit(
        readings=len(inside),
        lowest=min(r.celsius for r in inside),
        highest=max(r.celsius for r in inside),
        excursion=excursion,
        before_issue=before,
        after_receipt=after,
    )


def one_reading(celsius: float, storage: StorageRange) -> Transit:
    """A single reading on arrival (no logger travelled with the bag)."""
    excursion = None
    if not storage.contains(celsius):
        excursion = f"reading on arrival {celsius:g} °C, outside {storage.text()}"
    return Transit(readings=1, lowest=celsius, highest=celsius, excursion=excursion)


def check_at_issue(celsius: float, storage: StorageRange, field: str) -> None:
    """Refuse to issue a bag read outside its storage range (naming ``field``).

    Decided: refused, not recorded as an excursion: the bag is still in the cleanroom, where
    it is put right (or held by QA) before it leaves; an excursion on record would let it go.
    """
    if not storage.contains(celsius):
        raise InvalidInput(
            field,
            f"{celsius:g} °C is outside the bag's storage range {storage.text()}: not issued "
            "(bring the bag into its range, or tell QA, before it leaves the cleanroom)",
        )
