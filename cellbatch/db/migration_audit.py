"""Audit entries written by a schema migration, for the records a migration itself creates.

A migration runs below the services, on Alembic's connection, so it cannot use
``UnitOfWork``; this appends the same hash-chained entry that ``UnitOfWork.add`` would,
attributed to the system, so that ``audit verify`` vouches for the migrated record too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel.sql.sqltypes import UTCDateTime

from cellbatch.db.audit_chain import canonical_value, dumps, entry_hash, sha256

SYSTEM_USER = "system"
"""The name a migration's audit entries carry (no person acted)."""


def migration_now(connection: Connection) -> datetime:
    """The database server's UTC time (PostgreSQL), or the local clock for SQLite."""
    if connection.dialect.name == "postgresql":
        return connection.execute(sa.text("SELECT statement_timestamp()")).scalar().astimezone(UTC)
    return datetime.now(UTC)


def audit_created_row(
    connection: Connection, table: sa.Table, row_id: int, *, at: datetime, reason: str
) -> None:
    """Append a ``create`` entry for the row ``row_id`` of ``table``, as read back now.

    ``table`` lists every column of the table as the migration leaves it, with its type, so
    the row's content is read exactly as the program will read it.
    """
    row = connection.execute(sa.select(table).where(table.c.id == row_id)).mappings().one()
    content = {name: canonical_value(value) for name, value in row.items()}
    head = connection.execute(sa.text("SELECT seq, hash FROM audit_head WHERE id = 1")).one()
    values: dict[str, Any] = {
        "seq": head.seq + 1,
        "at": at,
        "user_id": None,
        "username": SYSTEM_USER,
        "action": "create",
        "entity": table.name,
        "entity_id": str(row_id),
        "batch_id": None,
        "field": None,
        "old_value": None,
        "new_value": dumps(content),
        "reason": reason,
        "row_hash": sha256(dumps(content)),
        "prev_hash": head.hash,
    }
    values["hash"] = entry_hash(values)
    entries = sa.table(
        "audit_entry",
        *(sa.column(name) for name in values if name != "at"),
        sa.column("at", UTCDateTime()),
    )
    connection.execute(sa.insert(entries).values(**values))
    connection.execute(
        sa.text("UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1"),
        {"seq": values["seq"], "hash": values["hash"]},
    )
