"""The time the UI shows and counts idle time by, injectable so tests can freeze it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
"""A function returning the current time as an aware datetime."""


def system_clock() -> datetime:
    """The real time, in UTC."""
    return datetime.now(UTC)


class FrozenClock:
    """A clock that stands still until moved (for tests and snapshots)."""

    def __init__(self, at: datetime) -> None:
        self.now = at

    def __call__(self) -> datetime:
        """The frozen time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        from datetime import timedelta

        self.now = self.now + timedelta(seconds=seconds)


def short_time(value: datetime) -> str:
    """``2026-11-22 14:05 UTC``: unambiguous date, 24-hour time."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso_short(text: str | None) -> str:
    """An ISO UTC timestamp (``2026-11-22T14:05:00Z``) as ``2026-11-22 14:05``."""
    if not text:
        return "—"
    return text.replace("T", " ")[:16]


def countdown(seconds: float) -> str:
    """Time left as ``2 h 05 min``, or ``EXPIRED 0 h 12 ago``."""
    if seconds < 0:
        minutes = int(-seconds // 60)
        return f"EXPIRED {minutes // 60} h {minutes % 60:02d} ago"
    minutes = int(seconds // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"
