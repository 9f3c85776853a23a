"""The site's security policy (21 CFR 11.300, Annex 11 §12) and the floors no one may go below.

The policy is a controlled record: it lives in the database as numbered versions, each
signed by an admin, and nothing in a user's environment can change it. The limits below
are rules of the program, not settings: an admin may make the policy stricter than the
defaults, never weaker than the floors (see docs/security-policy.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from cellbatch.domain.errors import InvalidInput

MIN_PASSWORD_LENGTH_FLOOR = 12
"""Shortest password any policy may allow (NIST SP 800-63B asks at least 8; we ask 12)."""
MAX_PASSWORD_LENGTH = 128
"""Longest password accepted (NIST SP 800-63B: allow at least 64)."""
SCRYPT_N_FLOOR = 2**17
"""Lowest scrypt cost (N, with r = 8, p = 1) for a new hash: OWASP's password storage minimum."""
SCRYPT_N_CEILING = 2**20
"""Highest scrypt cost: one hash then needs 1 GiB of memory, more would stall log-in."""
MAX_FAILED_ATTEMPTS_CEILING = 10
"""Most failed log-ins in a row a policy may allow before the account locks."""
MAX_PASSWORD_AGE_CEILING = 365
"""Longest password lifetime in days a policy may set (0 means no expiry, NIST's advice)."""
IDLE_LOCK_FLOOR = 60
"""Shortest idle lock a policy may set, in seconds (shorter locks the screen mid-entry)."""
IDLE_LOCK_CEILING = 900
"""Longest idle lock a policy may set, in seconds: an unattended terminal locks within 15 min."""


@dataclass(frozen=True)
class SecurityPolicy:
    """Account and session rules in force: lockout, passwords, hash cost and idle lock."""

    max_failed_attempts: int = 5
    """Failed log-ins in a row that lock an account until an admin unlocks it."""
    min_password_length: int = MIN_PASSWORD_LENGTH_FLOOR
    """Shortest password accepted when one is set or changed."""
    password_max_age_days: int = 0
    """Days after which a password must be changed; 0 means no expiry."""
    scrypt_n: int = SCRYPT_N_FLOOR
    """scrypt cost parameter N of new password hashes (r = 8, p = 1)."""
    idle_lock_seconds: int = 600
    """Idle time after which the terminal UI locks."""

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary (for JSON output and the record's content hash)."""
        return asdict(self)

    def changed(self, **values: int | None) -> SecurityPolicy:
        """A checked copy with the given values replaced (None keeps a value)."""
        return checked_policy(replace(self, **{k: v for k, v in values.items() if v is not None}))


DEFAULT_POLICY = SecurityPolicy()
"""The policy a new database starts with (and the one in force if its record is missing)."""

OPTION = {
    "max_failed_attempts": "--max-failed-attempts",
    "min_password_length": "--min-password-length",
    "password_max_age_days": "--password-max-age-days",
    "scrypt_n": "--scrypt-n",
    "idle_lock_seconds": "--idle-lock-seconds",
}
"""The command-line option that sets each value (what a refusal names)."""

_LIMITS = {
    "max_failed_attempts": (1, MAX_FAILED_ATTEMPTS_CEILING, "failed log-ins"),
    "min_password_length": (MIN_PASSWORD_LENGTH_FLOOR, MAX_PASSWORD_LENGTH, "characters"),
    "password_max_age_days": (0, MAX_PASSWORD_AGE_CEILING, "days (0: no expiry)"),
    "scrypt_n": (SCRYPT_N_FLOOR, SCRYPT_N_CEILING, "(a power of two)"),
    "idle_lock_seconds": (IDLE_LOCK_FLOOR, IDLE_LOCK_CEILING, "seconds"),
}


def checked_policy(policy: SecurityPolicy) -> SecurityPolicy:
    """``policy`` if every value is within the program's limits; else the first one refused."""
    for item in fields(policy):
        value = getattr(policy, item.name)
        low, high, unit = _LIMITS[item.name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidInput(OPTION[item.name], f"expected {low} to {high} {unit}, got {value!r}")
        if item.name == "scrypt_n" and value & (value - 1):
            raise InvalidInput(OPTION[item.name], f"expected a power of two, got {value}")
    return policy


def idle_lock_in_force(policy: SecurityPolicy, requested: int | None) -> int:
    """The idle lock of a terminal: the policy's, or a shorter one the terminal asks for.

    A request (``CELLBATCH_IDLE_LOCK_SECONDS``) may only shorten the lock; a longer, zero or
    negative one is ignored, so the environment can never lengthen or disable it.
    """
    if requested is not None and 0 < requested < policy.idle_lock_seconds:
        return requested
    return policy.idle_lock_seconds
