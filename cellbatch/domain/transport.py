"""A bag's transport from the cleanroom to the ward: the range it must stay in, and the verdict.

The range is one constant for every dose product (both dose SOPs' bags are kept at 2–8 °C in a
validated shipper; the accompanying document says so from here). A temperature logger packed
at the issue gives readings; only those between the issue and the receipt count. Any reading
outside the range is an excursion: the receipt is recorded, and the bag is put on hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cellbatch.domain.errors import InvalidInput

TRANSPORT_MIN_C = 2.0
"""Lowest temperature a bag may see in transit (°C)."""
TRANSPORT_MAX_C = 8.0
"""Highest temperature a bag may see in transit (°C)."""


def range_text() -> str:
    """The transport range as people read it: ``2–8 °C``."""
    return f"{TRANSPORT_MIN_C:g}–{TRANSPORT_MAX_C:g} °C"


def readings_text(readings: int, lowest: float, highest: float) -> str:
    """``4 readings 4.2–6.8 °C`` (``1 reading 9.5 °C``)."""
    if readings == 1 or lowest == highest:
        span = f"{lowest:g} °C"
    else:
        span = f"{lowest:g}–{highest:g} °C"
    return f"{readings} reading{'s' if readings != 1 else ''} {span}"


@dataclass(frozen=True)
class Reading:
    """One temperature reading: when, and the temperature in °C."""

    at: datetime
    celsius: float


@dataclass(frozen=True)
class Transit:
    """What the readings of one transport say."""

    readings: int
    lowest: float
    highest: float
    excursion: str | None
    """Which readings left the range (None: the bag stayed in it)."""


def _in_range(celsius: float) -> bool:
    return TRANSPORT_MIN_C <= celsius <= TRANSPORT_MAX_C


def transit(readings: list[Reading], issued: datetime, received: datetime, field: str) -> Transit:
    """The readings from the issue to the receipt, and any that left the range.

    A reading outside that time (the logger running before packing or after unpacking) does
    not count; no reading in it is refused, naming ``field``.
    """
    inside = [r for r in readings if issued <= r.at <= received]
    if not inside:
        raise InvalidInput(
            field,
            f"no reading between the issue ({issued:%Y-%m-%d %H:%M} UTC) and the receipt "
            f"({received:%Y-%m-%d %H:%M} UTC): expected the logger's readings of this transport",
        )
    out = [r for r in inside if not _in_range(r.celsius)]
    excursion = None
    if out:
        worst = max(
            out, key=lambda r: max(TRANSPORT_MIN_C - r.celsius, r.celsius - TRANSPORT_MAX_C)
        )
        when = (
            f"from {out[0].at:%Y-%m-%d %H:%M} to {out[-1].at:%Y-%m-%d %H:%M} UTC; "
            if len(out) > 1
            else ""
        )
        excursion = (
            f"{len(out)} of {len(inside)} reading(s) outside {range_text()} in transit, "
            f"{when}worst {worst.celsius:g} °C at {worst.at:%Y-%m-%d %H:%M} UTC"
        )
    return Transit(
        readings=len(inside),
        lowest=min(r.celsius for r in inside),
        highest=max(r.celsius for r in inside),
        excursion=excursion,
    )


def one_reading(celsius: float) -> Transit:
    """A single reading on arrival (no logger travelled with the bag)."""
    excursion = None
    if not _in_range(celsius):
        excursion = f"reading on arrival {celsius:g} °C, outside {range_text()}"
    return Transit(readings=1, lowest=celsius, highest=celsius, excursion=excursion)
