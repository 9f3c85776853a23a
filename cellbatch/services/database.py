"""Opening the database the interfaces work on, and what its failures mean for the user."""

from __future__ import annotations

from cellbatch.db.database import Database
from cellbatch.db.failures import (
    DatabaseDamaged,
    DatabaseReadOnly,
    DatabaseUnavailable,
    SchemaMismatch,
    database_problem,
)
from cellbatch.domain.errors import CellbatchError
from cellbatch.settings import default_database_url

__all__ = [
    "Database",
    "DatabaseDamaged",
    "DatabaseReadOnly",
    "DatabaseUnavailable",
    "SchemaMismatch",
    "explain_failure",
    "init_database",
    "open_database",
]


def open_database(url: str | None = None, *, read_only: bool = False) -> Database:
    """Open an existing cellbatch database at this program's schema; never create one.

    ``read_only`` opens an SQLite file read-only (and on read-only media at all). A missing
    file, a file that is not a database, an empty or foreign database, and one at another
    schema are refused with a message saying what to do; nothing is created or changed.
    """
    db = Database(url or default_database_url(), access="read" if read_only else "write")
    try:
        db.ensure_schema()
    except BaseException:
        db.dispose()
        raise
    return db


def init_database(url: str | None = None) -> tuple[Database, str]:
    """Create (in an empty database or a new file) or upgrade the schema.

    Returns the database and what was done. A foreign database, one made by a newer
    program and one whose schema version was removed are refused and left as they are.
    The site key is made first for a database not yet sealed under one
    (``Database.key_created``); a sealed database must come with its own key.
    """
    db = Database(url or default_database_url(), access="create")
    done = db.ensure_schema(upgrade=True)
    db.site_key()  # the database's own key, or a message saying what is wrong with it
    return db, done


def explain_failure(error: BaseException) -> CellbatchError | None:
    """The user's message for a failure, if it is one the program can explain.

    Every interface shows database failures through this one function: what is wrong and
    what to do, never the SQL or its parameters.
    """
    return database_problem(error)
