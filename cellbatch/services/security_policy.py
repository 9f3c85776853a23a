"""The security policy in force: the newest signed version in the database.

Nothing here reads the environment for lockout, password rules or hash cost; the only
environment value consulted is a terminal's request for a *shorter* idle lock.
Its versions are shown by :mod:`cellbatch.services.queries.security_policy` and changed by
:mod:`cellbatch.services.commands.security_policy`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from cellbatch.db import core_tables
from cellbatch.db.audit_chain import dumps, sha256
from cellbatch.db.database import Database
from cellbatch.domain.errors import InvalidInput
from cellbatch.domain.security_policy import (
    DEFAULT_POLICY,
    SecurityPolicy,
    checked_policy,
    idle_lock_in_force,
)
from cellbatch.settings import requested_idle_lock_seconds

if TYPE_CHECKING:  # the table classes are loaded by the writes only (docs/start-up.md)
    from sqlmodel import Session

    from cellbatch.db.tables import SecurityPolicyVersion

POLICY_FIELDS = tuple(f.name for f in fields(SecurityPolicy))
"""The values a policy version holds, in order."""


def policy_hash(policy: SecurityPolicy) -> str:
    """SHA-256 of a policy's values: what its version's signature is bound to."""
    return sha256(dumps(policy.to_dict()))


def policy_of(row: SecurityPolicyVersion | Any) -> SecurityPolicy:
    """The policy values a version row holds (a table object or a Core row)."""
    return SecurityPolicy(**{name: getattr(row, name) for name in POLICY_FIELDS})


def latest_version(session: Session) -> SecurityPolicyVersion | None:
    """The newest policy version row (None only if the record was removed behind our back)."""
    from cellbatch.db.tables import SecurityPolicyVersion  # deferred: start-up

    return session.execute(
        select(SecurityPolicyVersion).order_by(SecurityPolicyVersion.version.desc()).limit(1)
    ).scalar_one_or_none()


@dataclass(frozen=True)
class PolicyInForce:
    """The policy the program applies now, which version set it, and the newer ones refused."""

    policy: SecurityPolicy
    version: int | None
    """The version applied (None: no version holds; the program's default applies)."""
    refused: tuple[tuple[int, str], ...] = ()
    """Newer versions not applied, newest first: (version, why)."""


def policy_standing(connection: Connection) -> PolicyInForce:
    """The policy in force: the newest version that holds, and the newer ones refused.

    A version holds when its values match their signed hash and the limits; newer ones that
    do not (edited in the database) are refused and named. Falling back to the newest valid
    version, not the program's default, keeps a site's stricter settings in force when a
    newer version is edited behind the program's back: an edit can at most bring back a
    version an admin signed before (docs/security-policy.md). One Core read of the few
    version rows (the log-in's, and ``policy show``'s).
    """
    table = core_tables.security_policy
    refused: list[tuple[int, str]] = []
    for row in connection.execute(select(table).order_by(table.c.version.desc())):
        why = _refusal_of(row)
        if why is None:
            return PolicyInForce(policy_of(row), row.version, tuple(refused))
        refused.append((row.version, why))
    return PolicyInForce(DEFAULT_POLICY, None, tuple(refused))


def _refusal_of(row: Any) -> str | None:
    """Why a version row cannot be applied (None: it can)."""
    policy = policy_of(row)
    if policy_hash(policy) != row.content_hash:
        return "its values no longer match their signed hash (edited outside the program)"
    try:
        checked_policy(policy)
    except InvalidInput as exc:
        return f"a value breaks the program's limits ({exc})"
    return None


def policy_in_force(session: Session) -> SecurityPolicy:
    """The policy the program applies now (see :func:`policy_standing`)."""
    return policy_standing(session.connection()).policy


def policy_in_force_on(connection: Connection) -> SecurityPolicy:
    """The policy in force, read through the Core table (the log-in's read, without the ORM)."""
    return policy_standing(connection).policy


def current_policy(db: Database) -> SecurityPolicy:
    """The policy in force (for callers without an open session)."""
    with db.session() as session:
        return policy_in_force(session)


def idle_lock_seconds(db: Database) -> int:
    """The terminal's idle lock: the policy's, shortened (never lengthened) by the terminal."""
    return idle_lock_in_force(current_policy(db), requested_idle_lock_seconds())
