"""User accounts: first admin, adding, deactivating, unlocking, changing passwords."""

from __future__ import annotations

from sqlalchemy import func, select

from cellbatch.db.database import Database
from cellbatch.db.tables import User
from cellbatch.domain.errors import InvalidInput, NotFound, RuleViolation
from cellbatch.domain.password_rules import check_new_password
from cellbatch.domain.text import typed_text
from cellbatch.domain.users import Actor, Role, printed_name, user_id
from cellbatch.domain.users import role as role_named
from cellbatch.services.auth import authenticate
from cellbatch.services.passwords import hash_password, hashing_cost, one_time_password
from cellbatch.services.queries.involvement import account_for_name
from cellbatch.services.queries.users import UserView, user_count, user_view
from cellbatch.services.security_policy import policy_in_force
from cellbatch.services.uniqueness import user_id_free
from cellbatch.services.unit_of_work import UnitOfWork
from cellbatch.settings import default_database_url


def _new_hash(uow: UnitOfWork, password: str, username: str, field: str = "password") -> str:
    """The hash of a password being set, if the policy in force allows it."""
    policy = policy_in_force(uow.session)
    check_new_password(password, policy, username=username, field=field)
    return hash_password(password, hashing_cost(policy.scrypt_n))


def refuse_first_admin(url: str | None) -> None:
    """Refuse now, changing nothing, a first admin that ``init`` could not create at ``url``.

    A database that already has users (an admin adds new ones), or one that ``init`` would
    refuse anyway (another program's, a newer cellbatch's), is refused before a password is
    asked or a schema created. No database yet, or an empty one: nothing to refuse.
    """
    try:
        db = Database(url or default_database_url(), access="read")
    except InvalidInput:
        return  # no database file yet: init creates it, or says why it cannot
    try:
        state = db.schema_state()
        if state.kind in ("foreign", "newer", "unversioned"):
            db.ensure_schema()  # raises what init would
        if state.kind in ("current", "older") and user_count(db):
            raise RuleViolation(
                "the database already has users: nothing was changed. An admin adds new ones "
                "(`cellbatch user add --help`)"
            )
    finally:
        db.dispose()


def create_first_admin(db: Database, username: str, full_name: str, password: str) -> UserView:
    """Create the first admin of an empty database (no one else can yet)."""
    username = user_id(username)
    name = printed_name(full_name)
    with UnitOfWork(db, None) as uow:
        if uow.session.execute(select(func.count()).select_from(User)).scalar_one():
            raise RuleViolation("the database already has users: an admin adds new ones")
        user = User(
            username=username,
            full_name=name,
            role="admin",
            password_hash=_new_hash(uow, password, username),
            password_changed_at=uow.now,
            created_at=uow.now,
        )
        uow.add(user, reason="first administrator at set-up")
        uow.commit()
        return user_view(user)


def _get(uow: UnitOfWork, username: str) -> User:
    user = uow.session.execute(
        select(User).where(User.username == username).with_for_update()
    ).scalar_one_or_none()
    if user is None:
        raise NotFound(f"no user {username!r}")
    return user


def add_user(
    db: Database,
    actor: Actor,
    username: str,
    full_name: str,
    role: str,
    *,
    password: str | None = None,
) -> tuple[UserView, str]:
    """Add an account with a one-time password (returned once; must be changed at first use).

    ``password`` sets a known password that need not be changed (demo data only).
    """
    actor.require(Role.ADMIN, action="add users")
    username = user_id(username)
    role_value = role_named(role)
    name = printed_name(full_name)
    initial = password or one_time_password()
    with UnitOfWork(db, actor) as uow:
        user_id_free(uow.session, username)
        same_name = account_for_name(uow.session, name)
        if same_name is not None:
            raise RuleViolation(
                f"{same_name[0]!r} already signs as {same_name[1]!r}, which reads like {name!r}: "
                "a printed name on a signature must tell one person from another (names are "
                "compared without case, accents, extra blanks or look-alike letters; add a "
                "middle initial)"
            )
        user = User(
            username=username,
            full_name=name,
            role=role_value.value,
            password_hash=_new_hash(uow, initial, username),
            must_change_password=password is None,
            password_changed_at=uow.now,
            created_at=uow.now,
        )
        uow.add(user, reason="account created")
        uow.commit()
        return user_view(user), initial


def set_active(db: Database, actor: Actor, username: str, active: bool, reason: str) -> UserView:
    """Deactivate (or reactivate) an account; accounts are never deleted."""
    actor.require(Role.ADMIN, action="deactivate users")
    reason = typed_text(reason, "--reason", what="why the account changes")
    with UnitOfWork(db, actor) as uow:
        user = _get(uow, username)
        if user.id == actor.id and not active:
            raise RuleViolation("an admin cannot deactivate their own account")
        if user.active != active:
            uow.change(
                user, "active", active, reason=reason, action="activate" if active else "deactivate"
            )
        uow.commit()
        return user_view(user)


def unlock(db: Database, actor: Actor, username: str, reason: str) -> UserView:
    """Unlock an account locked by failed log-ins."""
    actor.require(Role.ADMIN, action="unlock users")
    reason = typed_text(reason, "--reason", what="why the account is unlocked")
    with UnitOfWork(db, actor) as uow:
        user = _get(uow, username)
        if not user.locked:
            raise RuleViolation(f"account {username!r} is not locked")
        uow.change(user, "locked", False, action="unlock", reason=reason)
        uow.change(user, "failed_attempts", 0, action="unlock", reason=reason)
        uow.commit()
        return user_view(user)


def change_password(db: Database, username: str, old_password: str, new_password: str) -> UserView:
    """Change one's own password (also the way to replace a one-time password)."""
    actor = authenticate(db, username, old_password, allow_expired=True)
    if new_password == old_password:
        raise InvalidInput("new password", "expected a password different from the old one")
    with UnitOfWork(db, actor) as uow:
        user = _get(uow, username)
        uow.change(
            user,
            "password_hash",
            _new_hash(uow, new_password, username, "new password"),
            action="password_change",
            reason="changed by the user",
        )
        uow.change(
            user,
            "password_changed_at",
            uow.now,
            action="password_change",
            reason="changed by the user",
        )
        if user.must_change_password:
            uow.change(
                user,
                "must_change_password",
                False,
                action="password_change",
                reason="one-time password replaced",
            )
        uow.commit()
        return user_view(user)
