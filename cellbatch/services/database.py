"""Opening the database the interfaces work on."""

from __future__ import annotations

from cellbatch.db.database import Database, DatabaseUnavailable
from cellbatch.settings import default_database_url

__all__ = ["Database", "DatabaseUnavailable", "open_database"]


def open_database(url: str | None = None, *, upgrade: bool = False) -> Database:
    """Open ``url`` (default: settings), creating the schema on first use.

    An existing database at an older schema is upgraded only when ``upgrade`` is set.
    """
    db = Database(url or default_database_url())
    db.ensure_schema(upgrade=upgrade)
    return db


def init_database(url: str | None = None) -> tuple[Database, str]:
    """Create or upgrade the schema; returns the database and what was done."""
    db = Database(url or default_database_url())
    return db, db.ensure_schema(upgrade=True)
