"""User accounts as shown (never a password hash), and the actor of a user ID."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select

from cellbatch.db.database import Database
from cellbatch.db.tables import User
from cellbatch.domain.errors import NotFound
from cellbatch.domain.users import Actor
from cellbatch.services.auth import actor_of


@dataclass(frozen=True)
class UserView:
    """A user account as shown (never the password hash)."""

    username: str
    full_name: str
    role: str
    active: bool
    locked: bool
    must_change_password: bool
    failed_attempts: int

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON output."""
        return asdict(self)


def user_view(user: User) -> UserView:
    """The account as shown."""
    return UserView(
        user.username,
        user.full_name,
        user.role,
        user.active,
        user.locked,
        user.must_change_password,
        user.failed_attempts,
    )


def user_count(db: Database) -> int:
    """How many accounts exist."""
    with db.session() as session:
        return session.execute(select(func.count()).select_from(User)).scalar_one()


def list_users(db: Database) -> list[UserView]:
    """Every account, active or not, by user ID."""
    with db.session() as session:
        return [
            user_view(u) for u in session.execute(select(User).order_by(User.username)).scalars()
        ]


def get_actor(db: Database, username: str) -> Actor:
    """The read model of an account (no authentication: for display only)."""
    with db.session() as session:
        user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
        if user is None:
            raise NotFound(f"no user {username!r}")
        return actor_of(user)
