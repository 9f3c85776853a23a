"""Log-in and re-authentication: who is acting, proven by user ID and password.

Every refused log-in gives the same answer at the same cost, whatever was wrong (unknown
user ID, wrong password, locked or deactivated account): one scrypt computation with the
policy's parameters (against a dummy hash when there is no account), then one audited
write. Nothing tells an outsider which user IDs exist; only a database with no account at
all says so, with how to create the first admin (there is no account to guess). A failed
attempt is counted and audited in its own transaction, so it survives the refusal; the
account locks after the policy's number of failures in a row. A user ID that names no
account is never stored: it may be a password typed into the wrong field.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from cellbatch.db import core_tables
from cellbatch.db.audit_chain_rows import RecordTampered, refuse_tampered, stored_row_problem
from cellbatch.db.database import Database, server_now
from cellbatch.db.failures import DatabaseReadOnly
from cellbatch.domain.errors import AuthenticationFailed, InvalidInput
from cellbatch.domain.security_policy import SecurityPolicy
from cellbatch.domain.users import Actor, Role
from cellbatch.services.passwords import (
    check_password,
    cost_of,
    dummy_hash,
    hash_password,
    hashing_cost,
)
from cellbatch.services.security_policy import policy_in_force, policy_in_force_on
from cellbatch.services.trusted_time import check_clocks_now, checked_ntp

if TYPE_CHECKING:
    from cellbatch.db.tables import User

Account = Any
"""An account as the log-in reads it: a Core row of ``app_user`` (or its ORM object)."""

UNKNOWN_USER = "?"
"""What the audit trail stores for a user ID that names no account (never the text typed)."""


def actor_of(user: User | Account) -> Actor:
    """The read model of an authenticated user (its ORM object or its Core row)."""
    return Actor(id=user.id, username=user.username, full_name=user.full_name, role=Role(user.role))


def refusal(policy: SecurityPolicy, note: str = "") -> AuthenticationFailed:
    """The one answer to every refused log-in."""
    return AuthenticationFailed(
        "user ID or password wrong (after "
        f"{policy.max_failed_attempts} failed attempts in a row an account is locked until an "
        f"admin unlocks it){note}"
    )


def _record_failure(db: Database, user_id: int | None, why: str) -> str:
    """Count and audit a refused log-in; a note for the answer when it cannot be recorded."""
    try:
        _count_failure(db, user_id, why)
    except DatabaseReadOnly:  # an archived copy or a standby: nothing can be recorded there
        return READ_ONLY_NOTE
    return ""


READ_ONLY_NOTE = " (this attempt could not be recorded: the database is read-only)"


def _ready_to_record(db: Database) -> bool:
    """Refuse now, before the password is checked, if a log-in's audit entry could not be written.

    A failed attempt must be counted and audited; if the site key, the clocks, the clock
    settings or a PostgreSQL session made read-only would refuse that entry, a wrong password
    would go uncounted while a right one read on: the environment would switch lockout off
    and tell right from wrong. So both are refused alike, with the environment's own message
    (docs/security-policy.md). False: a database nothing can write (a read-only SQLite copy
    or medium, a PostgreSQL standby), where nothing is recorded whatever the answer.
    """
    try:
        db.check_writable()
    except DatabaseReadOnly:
        return False
    db.site_key()
    check_clocks_now(db, checked_ntp())
    return True


def _count_failure(db: Database, user_id: int | None, why: str) -> None:
    from cellbatch.services.unit_of_work import UnitOfWork  # deferred: start-up

    with UnitOfWork(db, None) as uow:
        uow.audit(
            "login_failed",
            None,
            entity="app_user",
            entity_id=UNKNOWN_USER,
            reason="log-in with a user ID that names no account (not stored as typed)",
        )
        uow.commit()


def _clean_success(
    db: Database, user_id: int, matches: bool, target: int, recordable: bool
) -> Account | None:
    """The account re-read after the hash, if the log-in succeeds with nothing to write.

    A Core read (no ORM on a reading command's log-in): the right password, an account
    active, unlocked, with no failure to reset, a hash at the policy's cost, stored as its
    trail says. Anything else (None) is decided under the row's lock.
    """
    if not matches:
        return None
    table = core_tables.app_user
    with db.engine.connect() as connection:
        fresh = connection.execute(select(table).where(table.c.id == user_id)).one_or_none()
        if fresh is None or stored_row_problem(connection, table, user_id) is not None:
            return None
    upgrade = cost_of(fresh.password_hash) < target and recordable
    if fresh.locked or not fresh.active or fresh.failed_attempts or upgrade:
        return None
    return fresh


def _decide(
    db: Database,
    user_id: int,
    matches: bool,
    policy: SecurityPolicy,
    password: str,
    recordable: bool,
) -> Actor:
    """Decide a log-in on the account as it is after the hash, under its row's lock.

    The row is re-read with SELECT ... FOR UPDATE (PostgreSQL) inside the write lock (both
    databases): a lock or deactivation that happened during the hash refuses the log-in, and
    a failure is counted on the count as it stands. An account row edited outside the program
    refuses the log-in whatever the password (fail closed); the refusal is audited on the
    account without vouching for the row.
    """
    target = hashing_cost(policy.scrypt_n)
    fresh = _clean_success(db, user_id, matches, target, recordable)
    if fresh is not None:
        return _actor_or_refuse(fresh, None)
    if not recordable:
        return _decide_unrecorded(db, user_id, matches, policy)
    from cellbatch.db.tables import User  # deferred: start-up
    from cellbatch.services.unit_of_work import UnitOfWork  # deferred: start-up

    try:
        with UnitOfWork(db, None) as uow:
            user = uow.session.execute(
                select(User).where(User.id == user_id).with_for_update()
            ).scalar_one()
            try:
                uow.prove(user)  # as every write proves the row it vouches for
                if _role(user) is None:
                    raise refuse_tampered(f"app_user {user_id} holds an unknown role {user.role!r}")
            except RecordTampered as tampered:
                uow.audit(
                    "login_refused",
                    None,  # names the account without vouching for it: verify still names it
                    entity="app_user",
                    entity_id=str(user_id),
                    reason=f"log-in refused: {tampered.problem}",
                )
                uow.commit()
                raise
            why = _refused_because(user, matches)
            if why is not None:
                limit = policy_in_force(uow.session).max_failed_attempts
                uow.change(
                    user,
                    "failed_attempts",
                    user.failed_attempts + 1,
                    action="login_failed",
                    reason=why,
                )
                if user.failed_attempts >= limit and not user.locked:
                    uow.change(
                        user,
                        "locked",
                        True,
                        action="account_locked",
                        reason=f"{user.failed_attempts} failed log-in attempts in a row",
                    )
                uow.commit()
                raise refusal(policy)
            actor = actor_of(user)
            uow.actor = actor
            if user.failed_attempts:
                uow.change(user, "failed_attempts", 0, action="login", reason="successful log-in")
            if cost_of(user.password_hash) < target:
                uow.change(
                    user,
                    "password_hash",
                    hash_password(password, target),
                    action="password_rehash",
                    reason=f"password hash raised to the policy's cost (scrypt N = {target})",
                )
            uow.commit()
            return actor
    except DatabaseReadOnly:  # a standby found out only on writing
        return _decide_unrecorded(db, user_id, matches, policy)


def _decide_unrecorded(db: Database, user_id: int, matches: bool, policy: SecurityPolicy) -> Actor:
    """The same decision on a database that records nothing (an archive, a read-only copy)."""
    table = core_tables.app_user
    with db.engine.connect() as connection:
        user = connection.execute(select(table).where(table.c.id == user_id)).one()
        problem = stored_row_problem(connection, table, user_id)
    if problem is not None:
        raise refuse_tampered(problem)
    if _refused_because(user, matches) is not None:
        raise refusal(policy, READ_ONLY_NOTE)
    return _actor_or_refuse(user, None)


def _role(user: Account) -> Role | None:
    try:
        return Role(user.role)
    except ValueError:
        return None


def _actor_or_refuse(user: Account, problem: str | None) -> Actor:
    """The actor of an account proven intact; a role the program never wrote is refused."""
    if _role(user) is None:
        raise refuse_tampered(problem or f"app_user {user.id} holds an unknown role {user.role!r}")
    return actor_of(user)


def _any_account(db: Database) -> bool:
    """Whether the database has any account (asked only once a log-in is refused)."""
    with db.engine.connect() as connection:
        table = core_tables.app_user
        return connection.execute(select(table.c.id).limit(1)).first() is not None


def _refused_because(user: Account | None, matches: bool) -> str | None:
    """Why a log-in is refused, for the audit trail (None: it is not)."""
    if user is None:
        return "unknown user ID"
    if user.locked:
        return "log-in attempt on a locked account"
    if not user.active:
        return "log-in attempt by a deactivated account"
    return None if matches else "wrong password"


def authenticate(
    db: Database, username: str, password: str, *, allow_expired: bool = False
) -> Actor:
    """Prove ``username`` with ``password``; refuse wrong, locked, inactive or expired.

    ``allow_expired`` lets a one-time or expired password through, for changing it only.
    """
    table = core_tables.app_user
    with db.engine.connect() as connection:
        policy = policy_in_force_on(connection)
        user = connection.execute(select(table).where(table.c.username == username)).one_or_none()
    recordable = _ready_to_record(db)
    stored = user.password_hash if user is not None else dummy_hash(hashing_cost(policy.scrypt_n))
    matches = check_password(password, stored)
    if user is None:
        note = _record_failure(db, None, "unknown user ID") if recordable else READ_ONLY_NOTE
        if not _any_account(db):
            raise AuthenticationFailed(
                "the database has no users yet: create the first admin with "
                '`cellbatch init --admin USER-ID --name "NAME"`'
            )
        raise refusal(policy, note)
    actor = _decide(db, user.id, matches, policy, password, recordable)
    if not allow_expired:
        why = _change_due(db, user, policy)
        if why is not None:
            raise AuthenticationFailed(why)
    return actor


def _change_due(db: Database, user: User | Account, policy: SecurityPolicy) -> str | None:
    """Why ``user`` must change the password before working (one-time or too old), or None."""
    username = user.username
    if user.must_change_password:
        return (
            f"{username!r} still has a one-time password: change it first "
            f"(cellbatch passwd --user {username})"
        )
    max_age = policy.password_max_age_days
    if max_age:
        with db.engine.connect() as connection:
            now = server_now(connection)
        if now - user.password_changed_at > timedelta(days=max_age):
            return (
                f"the password of {username!r} is older than {max_age} days: change it "
                f"(cellbatch passwd --user {username})"
            )
    return None


def password_change_due(db: Database, actor: Actor) -> str | None:
    """Why ``actor``, just authenticated with ``allow_expired``, must change the password first.

    The same rule :func:`authenticate` applies, without proving the password a second time
    (a log-in pays its scrypt hash once).
    """
    from cellbatch.db.tables import User  # deferred: start-up

    with db.session() as session:
        policy = policy_in_force(session)
        user = session.get(User, actor.id)
    assert user is not None
    return _change_due(db, user, policy)


def reauthenticate(db: Database, username: str, password: str) -> Actor:
    """Signing asks for both components again; a wrong password is refused and counted."""
    if not password:
        raise InvalidInput("password", "signing needs your password again")
    return authenticate(db, username.strip(), password)
