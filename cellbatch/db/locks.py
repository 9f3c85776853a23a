"""The database's two locks: one for every write, one for schema migrations.

Every write transaction takes the write lock before it reads anything, so the checks a
use case makes (is the code free, is the vial in stock, is the batch still open) still
hold when it commits: writers run one after another, as they already did on the audit
chain's head. The lock lives with the transaction and ends with it (commit, rollback,
or a dropped connection), so a killed terminal never leaves it behind.

SQLite: the write lock is the database's own, taken by ``BEGIN IMMEDIATE``. PostgreSQL:
transaction-level advisory locks, which any role may take (the application's role needs
no rights on any table for them).
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

LOCK_TIMEOUT_S = 10.0
"""How long a write waits for another terminal's write to finish before it is refused."""

ADVISORY_NAMESPACE = 0x63656C6C
"""First key of cellbatch's PostgreSQL advisory locks ('cell'): keeps clear of other apps'."""

WRITE_LOCK = 1
"""Second key: the lock every unit of work holds from its start to its end."""

MIGRATION_LOCK = 2
"""Second key: the lock a schema creation or upgrade holds."""


def hold(connection: Connection, key: int) -> None:
    """Begin the connection's transaction holding lock ``key``; waits its turn.

    On SQLite the connection must be a writing one (``BEGIN IMMEDIATE``): beginning is
    taking the lock. A wait beyond the engine's lock timeout raises ``OperationalError``.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT pg_advisory_xact_lock(:namespace, :key)"),
            {"namespace": ADVISORY_NAMESPACE, "key": key},
        )
    elif not connection.in_transaction():
        connection.begin()


def timed_out(exc: OperationalError) -> bool:
    """True when ``exc`` is a lock wait that ran past the lock timeout (not an outage)."""
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == "55P03":  # PostgreSQL: lock_not_available
        return True
    return getattr(orig, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY
