"""Audit entries written by a schema migration, for the records a migration itself creates.

A migration runs below the services, on Alembic's connection, so it cannot use
``UnitOfWork``; this appends the same chained entry that ``UnitOfWork.add`` would,
attributed to the system, so that ``audit verify`` vouches for the migrated record too.

Once the trail is sealed (the ``audit_seal`` migration), entries are sealed under the site
key, which migrations find on their connection (:func:`migration_key`); before it, a
migration extends the unkeyed chain that the sealing migration then checks and seals.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel.sql.sqltypes import UTCDateTime

from cellbatch.db.audit_chain import (
    canonical_value,
    dumps,
    entry_mac,
    legacy_entry_hash,
    sha256,
)
from cellbatch.db.audit_chain_key import SiteKey, load_key
from cellbatch.settings import key_file_path

SYSTEM_USER = "system"
"""The name a migration's audit entries carry (no person acted)."""


def migration_now(connection: Connection) -> datetime:
    """The database server's UTC time (PostgreSQL), or the local clock for SQLite."""
    if connection.dialect.name == "postgresql":
        return connection.execute(sa.text("SELECT statement_timestamp()")).scalar().astimezone(UTC)
    return datetime.now(UTC)


SITE_KEY_INFO = "cellbatch_site_key"
"""Where ``migrate.upgrade`` leaves the site key on the connection (``Connection.info``)."""


def migration_key(connection: Connection) -> SiteKey:
    """The site key for this migration run.

    ``cellbatch init`` makes or reads the key before any migration runs and hands it over
    on the connection; a migration run any other way reads the configured key file
    (``CELLBATCH_KEY_FILE``) and stops, changing nothing, if there is none.
    """
    key = connection.info.get(SITE_KEY_INFO)
    if key is None:
        key = load_key(key_file_path())
        connection.info[SITE_KEY_INFO] = key
    return key


def is_sealed(connection: Connection) -> bool:
    """Whether this database's audit trail is already sealed under a site key."""
    if not sa.inspect(connection).has_table("audit_seal"):
        return False
    return connection.execute(sa.text("SELECT count(*) FROM audit_seal")).scalar() > 0


def chain_hash(connection: Connection, values: dict[str, Any]) -> str:
    """The hash the next entry must carry: keyed once the trail is sealed, unkeyed before."""
    if is_sealed(connection):
        return entry_mac(migration_key(connection).secret, values)
    return legacy_entry_hash(values)


def append_entry(connection: Connection, values: dict[str, Any]) -> dict[str, Any]:
    """Append one entry (``values`` without seq, prev_hash and hash) and move the head."""
    head = connection.execute(sa.text("SELECT seq, hash FROM audit_head WHERE id = 1")).one()
    values = {"seq": head.seq + 1, **values, "prev_hash": head.hash}
    values["hash"] = chain_hash(connection, values)
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
    return values


def audit_created_row(
    connection: Connection, table: sa.Table, row_id: int, *, at: datetime, reason: str
) -> None:
    """Append a ``create`` entry for the row ``row_id`` of ``table``, as read back now.

    ``table`` lists every column of the table as the migration leaves it, with its type, so
    the row's content is read exactly as the program will read it.
    """
    row = connection.execute(sa.select(table).where(table.c.id == row_id)).mappings().one()
    content = {name: canonical_value(value) for name, value in row.items()}
    values: dict[str, Any] = {
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
    }
    append_entry(connection, values)


def audit_added_column(
    connection: Connection,
    table: sa.Table,
    column: str,
    *,
    at: datetime,
    reason: str,
    added: tuple[str, ...] = (),
) -> int:
    """Append an ``update`` entry for every row of ``table`` after a migration added ``column``.

    A row's canonical content covers every column, so a new column changes the content of
    every existing row: without a new entry vouching for it, ``audit verify`` would call each
    row edited outside the program. ``table`` lists every column as the migration leaves
    them, typed as the program reads them; ``added`` names every column this migration added
    to the table (``column`` alone by default). Returns how many rows were vouched for.

    Only a row that its last entry still vouches for is vouched for again: its content
    without the added columns (or, for a second added column, with them) must be what that
    entry recorded. A row edited outside the program before the upgrade keeps its mismatch,
    so ``audit verify`` still names it: a migration never launders an edit.
    """
    new = set(added) | {column}
    vouched = _latest_row_hashes(connection, table.name)
    count = 0
    for row in connection.execute(sa.select(table).order_by(table.c.id)).mappings():
        content = {name: canonical_value(value) for name, value in row.items()}
        before = {name: value for name, value in content.items() if name not in new}
        if vouched.get(str(row["id"])) not in (sha256(dumps(before)), sha256(dumps(content))):
            continue
        value = content[column]
        append_entry(
            connection,
            {
                "at": at,
                "user_id": None,
                "username": SYSTEM_USER,
                "action": "update",
                "entity": table.name,
                "entity_id": str(row["id"]),
                "batch_id": row.get("batch_id"),
                "field": column,
                "old_value": None,
                "new_value": None if value is None else str(value),
                "reason": reason,
                "row_hash": sha256(dumps(content)),
            },
        )
        count += 1
    return count


def _latest_row_hashes(connection: Connection, entity: str) -> dict[str, str]:
    """The row hash of the last entry that vouches for each row of ``entity``, by row id."""
    rows = connection.execute(
        sa.text(
            "SELECT entity_id, row_hash FROM audit_entry WHERE entity = :entity "
            "AND row_hash IS NOT NULL ORDER BY seq"
        ),
        {"entity": entity},
    )
    return {entity_id: row_hash for entity_id, row_hash in rows}
