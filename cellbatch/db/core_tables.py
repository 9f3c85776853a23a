"""The few tables a reading command meets before its work, as SQLAlchemy Core tables.

Every command that shows records logs in first (GMP-27): it reads the account and the
security policy in force, and ``batch list`` reads batches and their SOP versions. Loading
the SQLModel table classes (:mod:`cellbatch.db.tables`: every table a pydantic model and a
mapped class) and SQLAlchemy's ORM costs a command about as long as the rest of its start
(docs/start-up.md), so these reads go through the plain tables below instead.

They are not a second definition of the schema: each holds only the columns read, each
column named, typed and nullable as in :mod:`cellbatch.db.tables`, the one definition
(which Alembic's migrations follow). ``tests/test_core_tables.py`` compares them column by
column (name, type, nullable, primary key) and reads every row of the demo through both.
Writes never go through them: a write is a unit of work on the ORM, with its audit entry in
the same transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, Column, DateTime, Integer, MetaData, String, Table
from sqlalchemy.types import TypeDecorator

METADATA = MetaData()
"""The Core tables' own metadata (never used to create or migrate anything)."""


class UtcDateTime(TypeDecorator):
    """A stored time read as aware UTC, as the SQLModel tables' ``UTCDateTime`` reads it.

    SQLite keeps UTC without an offset; PostgreSQL returns an aware time.
    """

    impl = DateTime
    cache_ok = True

    def __init__(self) -> None:  # noqa: D107
        super().__init__(timezone=True)

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """An aware time in UTC (a naive one is refused, as the SQLModel type refuses it)."""
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError("a time for the database must say its time zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """The stored time as aware UTC."""
        if value is None:
            return None
        if value.utcoffset() is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _id() -> Column:
    return Column("id", Integer, primary_key=True)


app_user = Table(
    "app_user",
    METADATA,
    _id(),
    Column("username", String, nullable=False),
    Column("full_name", String, nullable=False),
    Column("role", String, nullable=False),
    Column("password_hash", String, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("must_change_password", Boolean, nullable=False),
    Column("failed_attempts", Integer, nullable=False),
    Column("locked", Boolean, nullable=False),
    Column("password_changed_at", UtcDateTime(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)
"""Accounts, as the log-in reads them: every column, so that the log-in can compare the row
with its audit trail (``audit_chain_rows.stored_row_problem``) without the ORM."""

security_policy = Table(
    "security_policy",
    METADATA,
    _id(),
    Column("version", Integer, nullable=False),
    Column("max_failed_attempts", Integer, nullable=False),
    Column("min_password_length", Integer, nullable=False),
    Column("password_max_age_days", Integer, nullable=False),
    Column("scrypt_n", Integer, nullable=False),
    Column("idle_lock_seconds", Integer, nullable=False),
    Column("content_hash", String, nullable=False),
)
"""Versions of the security policy, as the log-in reads the one in force."""

sop_version = Table(
    "sop_version",
    METADATA,
    _id(),
    Column("sop_id", String, nullable=False),
    Column("version", String, nullable=False),
)
"""SOP versions, as the batch list names them."""

batch = Table(
    "batch",
    METADATA,
    _id(),
    Column("code", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("status", String, nullable=False),
    Column("sop_version_id", Integer, nullable=False),
    Column("parent_batch_id", Integer, nullable=True),
    Column("recipient_id", String, nullable=True),
    Column("started_at", UtcDateTime(), nullable=False),
)
"""Batches, as the batch list shows them."""
