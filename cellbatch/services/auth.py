"""Log-in and re-authentication: who is acting, proven by user ID and password.

A failed attempt is counted and audited in its own transaction, so it survives the
refusal; the account locks after the configured number of failures in a row.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from cellbatch.db.database import Database, server_now
from cellbatch.db.failures import DatabaseReadOnly
from cellbatch.db.tables import User
from cellbatch.domain.errors import AuthenticationFailed, InvalidInput
from cellbatch.domain.users import Actor, Role
from cellbatch.services.passwords import check_password
from cellbatch.services.unit_of_work import UnitOfWork
from cellbatch.settings import security_settings


def actor_of(user: User) -> Actor:
    """The read model of an authenticated user."""
    return Actor(id=user.id, username=user.username, full_name=user.full_name, role=Role(user.role))


def _record_failure(db: Database, username: str, why: str) -> str:
    try:
        return _count_failure(db, username, why)
    except DatabaseReadOnly:  # an archived copy or a standby: nothing can be recorded there
        return " (this attempt could not be recorded: the database is read-only)"


def _count_failure(db: Database, username: str, why: str) -> str:
    limit = security_settings().max_failed_attempts
    with UnitOfWork(db, None) as uow:
        user = uow.session.execute(
            select(User).where(User.username == username).with_for_update()
        ).scalar_one_or_none()
        if user is None:
            uow.audit(
                "login_failed",
                None,
                entity="app_user",
                entity_id=username[:40],
                reason="unknown user ID",
            )
            uow.commit()
            return ""
        uow.change(
            user, "failed_attempts", user.failed_attempts + 1, action="login_failed", reason=why
        )
        note = f" (failed attempt {user.failed_attempts} of {limit})"
        if user.failed_attempts >= limit and not user.locked:
            uow.change(
                user,
                "locked",
                True,
                action="account_locked",
                reason=f"{user.failed_attempts} failed log-in attempts in a row",
            )
            note = f"; the account is now locked after {user.failed_attempts} failed attempts"
        uow.commit()
        return note


def authenticate(
    db: Database, username: str, password: str, *, allow_expired: bool = False
) -> Actor:
    """Prove ``username`` with ``password``; refuse wrong, locked, inactive or expired.

    ``allow_expired`` lets a one-time or expired password through, for changing it only.
    """
    with db.session() as session:
        user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
        if user is not None and user.locked:
            raise AuthenticationFailed(
                f"account {username!r} is locked after repeated failed log-ins: "
                "an admin must unlock it (cellbatch user unlock)"
            )
        if user is not None and not user.active:
            _record_failure(db, username, "log-in by a deactivated account")
            raise AuthenticationFailed(f"account {username!r} is deactivated")
        ok = user is not None and check_password(password, user.password_hash)
    if not ok:
        note = _record_failure(db, username, "wrong password")
        raise AuthenticationFailed(f"user ID or password wrong for {username!r}{note}")
    assert user is not None
    if user.failed_attempts:
        try:
            with UnitOfWork(db, actor_of(user)) as uow:
                fresh = uow.session.get(User, user.id)
                uow.change(fresh, "failed_attempts", 0, action="login", reason="successful log-in")
                uow.commit()
        except DatabaseReadOnly:
            pass  # a read-only copy keeps its counts as they were
    if not allow_expired:
        if user.must_change_password:
            raise AuthenticationFailed(
                f"{username!r} still has a one-time password: change it first "
                f"(cellbatch passwd --user {username})"
            )
        max_age = security_settings().password_max_age_days
        if max_age:
            with db.session() as session:
                now = server_now(session)
            if now - user.password_changed_at > timedelta(days=max_age):
                raise AuthenticationFailed(
                    f"the password of {username!r} is older than {max_age} days: change it "
                    f"(cellbatch passwd --user {username})"
                )
    return actor_of(user)


def reauthenticate(db: Database, username: str, password: str) -> Actor:
    """Signing asks for both components again; a wrong password is refused and counted."""
    if not password:
        raise InvalidInput("password", "signing needs your password again")
    return authenticate(db, username.strip(), password)
