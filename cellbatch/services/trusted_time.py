"""The time of a write, read from the trusted clock after the clocks were compared.

:func:`checked_ntp` runs before a unit of work takes the write lock (an NTP answer may take
a moment and must not hold up other writers); :func:`trusted_now` runs under the lock and
gives the write's time and its :class:`~cellbatch.domain.trusted_time.TimeSource`, or refuses.
:func:`clock_report` is the same comparison for ``cellbatch clock``, the UI's start and
``cellbatch serve``, without refusing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

from cellbatch.db.database import Database, server_now
from cellbatch.domain.errors import CellbatchError
from cellbatch.domain.trusted_time import (
    DB_SERVER,
    HOST,
    MAX_CLOCK_SKEW_SECONDS,
    ClockOffset,
    TimeSource,
    TimeSourceUnavailable,
    check_clocks,
    skew_limit,
)
from cellbatch.services.ntp import NtpFailed, clock_offset
from cellbatch.settings import ntp_sources, requested_max_clock_skew_seconds

if TYPE_CHECKING:  # a log-in compares the clocks without loading the ORM (docs/start-up.md)
    from sqlmodel import Session

host_time: Callable[[], float] = time.time
"""This computer's clock (Unix seconds). A seam for tests, which set it ahead or behind."""

_told: ContextVar[datetime | None] = ContextVar("cellbatch_told_time", default=None)


@contextmanager
def told_time(at: datetime) -> Iterator[None]:
    """Records written inside (in this thread) carry ``at`` as their time instead of the clock's.

    For a story recorded in one go whose events happened over weeks: the demo loader (a bank
    released before its doses were thawed) and test fixtures. Their audit entries keep the
    trusted clock's time (when they were really written), so the trail stays in order. No door
    (command line, screen, browser) reaches it.
    """
    token = _told.set(at.astimezone(UTC))
    try:
        yield
    finally:
        _told.reset(token)


def told() -> datetime | None:
    """The time told for this thread's records (:func:`told_time`), if any."""
    return _told.get()


NTP_REUSE_SECONDS = 60.0
"""How long an NTP measurement is reused before the server is asked again."""
CLOCK_STEP_SECONDS = 1.0
"""A change of this computer's clock, since the last NTP measurement, that voids it."""


@dataclass(frozen=True)
class NtpReading:
    """How far the NTP source was from this computer's clock, and when that was measured."""

    source: str
    """``ntp:HOST:PORT``: the source that answered."""
    offset: float
    """The NTP source's clock minus this computer's, in seconds."""
    wall: float
    """This computer's clock when measured."""
    monotonic: float
    """The monotonic clock when measured (shows whether the wall clock was set since)."""


_readings: dict[tuple[str, ...], NtpReading] = {}
_readings_lock = threading.Lock()


def checked_ntp() -> NtpReading | None:
    """The configured NTP source's offset (a recent measurement, or a new one); None if none.

    Refuses with :class:`TimeSourceUnavailable` when sources are configured and none answers:
    a time that cannot be checked is not recorded.
    """
    sources = ntp_sources()
    if not sources:
        return None
    with _readings_lock:
        reading = _readings.get(sources)
        if reading is None or not _still_valid(reading):
            reading = _measure(sources)
            _readings[sources] = reading
        return reading


def _still_valid(reading: NtpReading) -> bool:
    elapsed = time.monotonic() - reading.monotonic
    stepped = abs((host_time() - reading.wall) - elapsed) > CLOCK_STEP_SECONDS
    return elapsed < NTP_REUSE_SECONDS and not stepped


def _measure(sources: tuple[str, ...]) -> NtpReading:
    failures = []
    for address in sources:
        try:
            offset = clock_offset(address, now=host_time)
        except NtpFailed as failed:
            failures.append(str(failed))
            continue
        return NtpReading(f"ntp:{address}", offset, host_time(), time.monotonic())
    raise TimeSourceUnavailable(
        "the time cannot be checked: no NTP source answered ("
        + "; ".join(failures)
        + "): nothing was recorded; check the network or CELLBATCH_NTP_SERVER"
    )


def trusted_now(
    session: Session | Connection, ntp: NtpReading | None
) -> tuple[datetime, TimeSource]:
    """The write's time and where it came from; refuses if the clocks disagree.

    Called under the write lock. PostgreSQL: the server's time, this computer's clock
    compared with it; SQLite: this computer's time. Either compared with NTP if configured.
    ``session`` may be a Core connection.
    """
    bind = session if isinstance(session, Connection) else session.get_bind()
    before = host_time()
    server = server_now(session) if bind.dialect.name == "postgresql" else None
    after = host_time()
    host = (before + after) / 2  # the server read its clock between the two
    checks: list[ClockOffset] = []
    if server is not None:
        checks.append(ClockOffset(HOST, DB_SERVER, host - server.timestamp()))
    if ntp is not None:
        checks.append(ClockOffset(HOST, ntp.source, -ntp.offset))
        if server is not None:
            checks.append(
                ClockOffset(DB_SERVER, ntp.source, server.timestamp() - host - ntp.offset)
            )
    check_clocks(tuple(checks), skew_limit(requested_max_clock_skew_seconds()))
    if server is not None:
        return server, TimeSource(DB_SERVER, tuple(checks))
    return datetime.fromtimestamp(after, UTC), TimeSource(HOST, tuple(checks))


def check_clocks_now(db: Database, ntp: NtpReading | None) -> None:
    """Refuse, as a write would, if the clocks disagree or their settings are unreadable.

    The log-in asks it before checking a password (a failure must be recordable); a Core
    connection, no lock.
    """
    with db.engine.connect() as connection:
        trusted_now(connection, ntp)


@dataclass(frozen=True)
class ClockReport:
    """The clocks compared now, for a person to read: what a write would get."""

    source: TimeSource | None
    """The clock writes take their time from, with the comparisons (None: refused)."""
    limit: float
    """The skew limit in force, in seconds."""
    problem: str | None
    """Why recording is refused now (None: it is not)."""

    @property
    def ok(self) -> bool:
        """Whether a write would be accepted now."""
        return self.problem is None


def clock_report(db: Database) -> ClockReport:
    """Compare the clocks as a write would, without writing or refusing."""
    limit = MAX_CLOCK_SKEW_SECONDS
    try:
        limit = skew_limit(requested_max_clock_skew_seconds())
        ntp = checked_ntp()
        with db.session() as session:
            _now, source = trusted_now(session, ntp)
    except CellbatchError as refused:
        return ClockReport(None, limit, str(refused))
    return ClockReport(source, limit, None)
