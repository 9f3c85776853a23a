"""What a real record can hold: bounds that catch a typo before it becomes a record.

These are plausibility bounds, not acceptance criteria: a value inside them is recorded as
measured even when the SOP would not accept it (a warm receipt is recorded and investigated),
a value outside them cannot have been measured and is refused with the range it must lie in.
Why each bound is where it is: docs/input-limits.md.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from cellbatch.domain.errors import InvalidInput

RECEIPT_TEMPERATURE_C = (-200.0, 60.0)
"""A tissue's temperature at receipt, °C: from below liquid nitrogen (−196 °C, a dry shipper's
vapour phase is about −150 °C) to above the hottest a parcel gets in transport (about 50 °C)."""

TRANSPORT_TEMPERATURE_C = (-90.0, 60.0)
"""A dose bag's temperature in transport, °C (typed at its issue or receipt, or read from its
logger's file): a dry-ice shipper reaches about −80 °C, a parcel in a hot car about 60 °C;
outside, the reading is a fault (a wrong unit, a broken probe), not an excursion."""

MAX_TRANSPORT = timedelta(days=7)
"""Longest time from collection to receipt of a fresh tissue (marrow and lipoaspirate are
processed within 24–72 h; a week is beyond any viable tissue, so longer is a wrong date)."""

EXPIRY_PAST = timedelta(days=366)
"""How long ago a material lot registered today may have expired (an expired lot may be put
on record, it is never used); longer ago is a wrong date."""

EXPIRY_AHEAD = timedelta(days=10 * 366)
"""How far ahead a material lot's expiry may lie (reagents keep for months, plastics for about
five years); further ahead is a wrong date."""


def receipt_temperature(value: float | None, field: str = "--temperature") -> float | None:
    """A receipt temperature in °C, refused outside :data:`RECEIPT_TEMPERATURE_C`."""
    low, high = RECEIPT_TEMPERATURE_C
    if value is not None and not low <= value <= high:
        raise InvalidInput(
            field,
            f"expected a receipt temperature from {low:g} to {high:g} °C, got {value:g} °C",
        )
    return value


def transport_temperature(value: float, field: str, where: str = "") -> float:
    """A bag's transport temperature in °C, refused outside :data:`TRANSPORT_TEMPERATURE_C`.

    ``where`` places it in the refusal (``line 4: `` of a logger's file).
    """
    low, high = TRANSPORT_TEMPERATURE_C
    if not low <= value <= high:
        raise InvalidInput(
            field,
            f"{where}{value:g} °C is not a plausible transport temperature (expected {low:g} "
            f"to {high:g} °C): check the reading and its unit",
        )
    return value


def collection_time(
    collected: datetime, received: datetime, born: int, field: str = "--collected"
) -> datetime:
    """A tissue's collection time: after the donor's birth year, at most a week before receipt."""
    if collected > received:
        raise InvalidInput(field, "is after the time the tissue was received")
    _after_birth(collected.date(), born, field)
    if received - collected > MAX_TRANSPORT:
        raise InvalidInput(
            field,
            f"{collected:%Y-%m-%d %H:%M} UTC is more than {MAX_TRANSPORT.days} days before the "
            f"receipt ({received:%Y-%m-%d %H:%M} UTC); expected the collection of a fresh tissue",
        )
    return collected


def material_expiry(expires: date, today: date, field: str = "--expires") -> date:
    """A material lot's expiry date, within :data:`EXPIRY_PAST` and :data:`EXPIRY_AHEAD`."""
    earliest, latest = today - EXPIRY_PAST, today + EXPIRY_AHEAD
    if not earliest <= expires <= latest:
        raise InvalidInput(
            field,
            f"expected an expiry date from {earliest:%Y-%m-%d} to {latest:%Y-%m-%d}, "
            f"got {expires:%Y-%m-%d}",
        )
    return expires


def sample_date(sampled: date, today: date, born: int, field: str = "--sampled") -> date:
    """A donor sample's date: not in the future, not before the donor's birth year."""
    if sampled > today:
        raise InvalidInput(field, f"{sampled:%Y-%m-%d} is in the future; expected the sample date")
    _after_birth(sampled, born, field)
    return sampled


def _after_birth(day: date, born: int, field: str) -> None:
    """Refuse a date before the donor's year of birth."""
    if day.year < born:
        raise InvalidInput(
            field, f"{day:%Y-%m-%d} is before the donor was born ({born}); expected a later date"
        )
