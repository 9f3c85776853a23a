"""Dates and times as technicians type them, read as the terminal's local time."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from cellbatch.domain.errors import InvalidInput

_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?")
"""The right shape for a date and time, whatever the numbers in it."""
_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")

EARLIEST_DATE = date(1900, 1, 1)
"""No date a batch record holds lies before this (no donor, tissue or reagent is older)."""
LATEST_DATE = date(2099, 12, 31)
"""No date a batch record holds lies after this (an expiry decades ahead is a typo)."""


def _plausible(day: date, raw: str, field: str) -> None:
    """Refuse a date outside the years a record can hold (before any time-zone arithmetic)."""
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise InvalidInput(
            field,
            f"{raw[:40]!r} is not a plausible date; expected a date from "
            f"{EARLIEST_DATE:%Y-%m-%d} to {LATEST_DATE:%Y-%m-%d}",
        )


def parse_datetime(text: str, *, field: str) -> datetime:
    """``YYYY-MM-DD HH:MM`` (local time, or with an offset / Z) as an aware UTC datetime."""
    raw = text.strip()
    if not raw:
        raise InvalidInput(field, "expected a date and time as YYYY-MM-DD HH:MM, got nothing")
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        value = None
        for fmt in _FORMATS:
            try:
                value = datetime.strptime(raw, fmt)
                break
            except ValueError:
                continue
    if value is None and _SHAPE.fullmatch(raw):
        raise InvalidInput(
            field, f"{raw!r} is not a real date and time; expected YYYY-MM-DD HH:MM (24-hour)"
        )
    if value is None or (len(raw) <= 10 and "T" not in raw and " " not in raw):
        raise InvalidInput(field, f"expected a date and time as YYYY-MM-DD HH:MM, got {raw[:40]!r}")
    _plausible(value.date(), raw, field)
    if value.tzinfo is None:
        value = value.astimezone()  # the terminal's local time zone
    return value.astimezone(UTC)


def parse_date(text: str, *, field: str) -> date:
    """``YYYY-MM-DD`` as a date."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError as exc:
        raise InvalidInput(
            field, f"expected a date as YYYY-MM-DD, got {text.strip()[:40]!r}"
        ) from exc
    _plausible(day, text.strip(), field)
    return day


def iso_utc(value: datetime | None) -> str | None:
    """An aware datetime as ``YYYY-MM-DDTHH:MM:SSZ``."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def as_utc(moment: datetime) -> datetime:
    """A datetime from the database as aware UTC (SQLite may hand it back naive; it is UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
