"""The security policy in force: the newest signed version in the database.

Nothing here reads the environment for lockout, password rules or hash cost; the only
environment value consulted is a terminal's request for a *shorter* idle lock.
Its versions are shown by :mod:`cellbatch.services.queries.security_policy` and changed by
:mod:`cellbatch.services.commands.security_policy`.
"""

from __future__ import annotations

from dataclasses import fields
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


def policy_in_force(session: Session) -> SecurityPolicy:
    """The policy the program applies now.

    A version whose values no longer match its signed hash, or that breaks a floor (both
    only by editing the database), is not applied: the program's default is, which is
    never weaker than the floors; ``audit verify`` names the edited record.
    """
    return _in_force(latest_version(session))


def policy_in_force_on(connection: Connection) -> SecurityPolicy:
    """The policy in force, read through the Core table (the log-in's read, without the ORM)."""
    table = core_tables.security_policy
    row = connection.execute(select(table).order_by(table.c.version.desc()).limit(1)).first()
    return _in_force(row)


def _in_force(row: SecurityPolicyVersion | Any | None) -> SecurityPolicy:
    """The policy a newest version row gives (see :func:`policy_in_force`)."""
    if row is None:
        return DEFAULT_POLICY
    policy = policy_of(row)
    if policy_hash(policy) != row.content_hash:
        return DEFAULT_POLICY
    try:
        return checked_policy(policy)
    except InvalidInput:
        return DEFAULT_POLICY


def current_policy(db: Database) -> SecurityPolicy:
    """The policy in force (for callers without an open session)."""
    with db.session() as session:
        return policy_in_force(session)


def idle_lock_seconds(db: Database) -> int:
    """The terminal's idle lock: the policy's, shortened (never lengthened) by the terminal."""
    return idle_lock_in_force(current_policy(db), requested_idle_lock_seconds())
