"""Trusted time: which clock a record's time comes from, and how far the clocks may disagree.

A record's time is the database server's on PostgreSQL (one clock for every terminal) and
this computer's on SQLite. Before each write the clocks are compared: this computer's with
the database server's, and both with an NTP source where one is configured. A write is
refused when two of them differ by more than the limit, since then nobody can say which
time is right; the audit entry notes the clock its time came from and the differences
measured (docs/trusted-time.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from cellbatch.domain.errors import RuleViolation

MAX_CLOCK_SKEW_SECONDS = 30.0
"""The most two clocks may differ before recording is refused (a site may ask for less)."""

DB_SERVER = "db-server"
"""The PostgreSQL server's clock (``statement_timestamp()``)."""
HOST = "host"
"""This computer's clock."""

CLOCK_NAMES = {DB_SERVER: "the database server's clock", HOST: "this computer's clock"}
"""How each clock is named in a message (an NTP source is named by its address)."""


class ClockSkewed(RuleViolation):
    """Two clocks disagree by more than the limit: nothing is recorded until they agree."""


class TimeSourceUnavailable(RuleViolation):
    """A configured time source did not answer: the time cannot be checked, nothing is recorded."""


@dataclass(frozen=True)
class ClockOffset:
    """How far one clock was from a reference clock when they were compared."""

    clock: str
    """The clock compared: :data:`HOST` or :data:`DB_SERVER`."""
    reference: str
    """The clock it was compared with: :data:`DB_SERVER` or ``ntp:HOST:PORT``."""
    seconds: float
    """``clock`` minus ``reference``: positive when ``clock`` is ahead."""

    def note(self) -> str:
        """``host -0.004 s vs db-server``."""
        return f"{self.clock} {self.seconds:+.3f} s vs {self.reference}"


@dataclass(frozen=True)
class TimeSource:
    """The clock a write's time was read from, and the comparisons that vouched for it."""

    clock: str
    """:data:`DB_SERVER` or :data:`HOST`."""
    checks: tuple[ClockOffset, ...]
    """The comparisons made before the write (none: no reference clock was available)."""

    def note(self) -> str:
        """What the audit entry records: ``db-server; host -0.004 s vs db-server``."""
        if not self.checks:
            return f"{self.clock}; unchecked (no database server or NTP source to compare with)"
        return "; ".join([self.clock, *(check.note() for check in self.checks)])


def skew_limit(requested: float | None) -> float:
    """The limit in force: :data:`MAX_CLOCK_SKEW_SECONDS`, or less if the site asks for less.

    A request (``CELLBATCH_MAX_CLOCK_SKEW_SECONDS``) may only tighten the limit; a larger,
    zero or negative one is ignored, so the environment can never switch the check off.
    """
    if requested is not None and 0 < requested < MAX_CLOCK_SKEW_SECONDS:
        return requested
    return MAX_CLOCK_SKEW_SECONDS


def check_clocks(checks: tuple[ClockOffset, ...], limit: float) -> None:
    """Refuse (:class:`ClockSkewed`) if any comparison is beyond ``limit`` seconds."""
    for check in checks:
        if abs(check.seconds) > limit:
            ahead = "ahead of" if check.seconds > 0 else "behind"
            raise ClockSkewed(
                f"{CLOCK_NAMES.get(check.clock, check.clock)} is {abs(check.seconds):.1f} s "
                f"{ahead} {_name(check.reference)} (at most {limit:g} s allowed): nothing was "
                "recorded; have the clocks set right (NTP) and try again"
            )


def _name(clock: str) -> str:
    """A clock's name in a message."""
    if clock.startswith("ntp:"):
        return f"the NTP source {clock[4:]}"
    return CLOCK_NAMES.get(clock, clock)
