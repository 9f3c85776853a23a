"""Records kept as versions signed into force: the site settings, the security policy.

Each version row carries its number, the content its signature is bound to and who signed it
(``signer_id``, ``signer_name``, ``signed_at``); the newest is in force. Reading them is the same
for each kind of record, so it is written once here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from cellbatch.db.tables import User

__all__ = ["versions_with_signers"]


def versions_with_signers(session: Session, model: Any) -> list[tuple[Any, User | None]]:
    """Every version of ``model`` (a version table), oldest first, with the user who signed it.

    The signer is None for a version no user signed (the program's default policy).
    """
    rows = session.execute(
        select(model, User).outerjoin(User, User.id == model.signer_id).order_by(model.version)
    ).all()
    return [(row, user) for row, user in rows]
