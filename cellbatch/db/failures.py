"""What a database failure means for the user, said in one place.

Every driver error becomes a message saying what is wrong and what to do, never the SQL or its
parameters.

SQLAlchemy's own text of an error quotes the statement and its values (a password hash, a
donor's marker), so it is never shown: only the driver's error class (SQLite's result code,
PostgreSQL's SQLSTATE) and, where it helps, the server's one-line primary message.
"""

from __future__ import annotations

import sqlite3

from cellbatch.db.locks import LOCK_TIMEOUT_S
from cellbatch.db.stored_text import NOT_UTF8
from cellbatch.domain.errors import CellbatchError


class DatabaseUnavailable(CellbatchError):
    """The database cannot be opened or used now (unreachable, busy, damaged, wrong schema)."""

    exit_code = 8


class DatabaseReadOnly(DatabaseUnavailable):
    """The database refuses every write: a read-only copy or medium, or a PostgreSQL standby."""


class DatabaseDamaged(DatabaseUnavailable):
    """The database file is damaged (SQLite reports it malformed or unreadable)."""


class SchemaMismatch(DatabaseUnavailable):
    """The database's schema is not the one this program works with."""


BUSY = (
    "the database is busy: another terminal's write held it for more than "
    f"{LOCK_TIMEOUT_S:g} s; nothing was saved, try again"
)
READ_ONLY = (
    "the database is read-only (a read-only copy or medium, a PostgreSQL standby or a server "
    "in read-only mode): nothing was saved. Work on the writable database (the primary server)"
)
DAMAGED = (
    "the database file is damaged ({what}): nothing can be trusted from it. Stop using it, "
    "tell QA, and restore the last verified backup"
)
SCHEMA = (
    "the database does not have the tables this program expects ({what}): it was altered "
    "outside cellbatch or is damaged. Restore the last verified backup"
)


class UnreadableStoredValue(CellbatchError, ValueError):
    """The database holds a value no write of the program stores: edited outside it.

    Exit 1, as ``audit verify`` exits on a broken trail (which names the record). A
    ``ValueError`` too: ``audit verify`` reads it as a value the program cannot read and
    names the record (``audit_chain_rows.UNREADABLE_VALUE``).
    """


UNREADABLE = (
    "the database holds a value this program cannot read ({what}): it was edited outside the "
    "program, and nothing was written. `cellbatch audit verify` names the record; tell QA, "
    "who records a deviation and restores the record (or the last verified backup)"
)


def _sqlite_problem(error: sqlite3.Error) -> CellbatchError:
    name = getattr(error, "sqlite_errorname", "") or ""
    text = str(error)
    if NOT_UTF8 in text:  # the driver's, reading text the program never writes
        return UnreadableStoredValue(UNREADABLE.format(what="text that is not UTF-8"))
    if name.startswith("SQLITE_READONLY") or "readonly database" in text:
        return DatabaseReadOnly(READ_ONLY)
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        return DatabaseUnavailable(BUSY)
    if name.startswith("SQLITE_CORRUPT") or "malformed" in text:
        return DatabaseDamaged(DAMAGED.format(what="SQLite: database disk image is malformed"))
    if name.startswith("SQLITE_NOTADB") or "not a database" in text:
        return DatabaseDamaged(
            DAMAGED.format(what="SQLite: the file is not a database, or its header is destroyed")
        )
    if name.startswith("SQLITE_FULL"):
        return DatabaseUnavailable(
            "the disk holding the database is full: nothing was saved. Free space, then try again"
        )
    if name.startswith("SQLITE_IOERR"):
        return DatabaseDamaged(DAMAGED.format(what="SQLite: input/output error reading the file"))
    if name.startswith("SQLITE_CANTOPEN"):
        return DatabaseUnavailable(
            "cannot open the database file (moved, or its folder cannot be read or written): "
            "check --db"
        )
    if "no such table" in text or "no such column" in text:
        return SchemaMismatch(SCHEMA.format(what=text))
    return DatabaseUnavailable(f"the database refused the operation ({name or 'SQLite error'})")


def _postgresql_problem(error: Exception, integrity: bool) -> CellbatchError:
    code = getattr(error, "sqlstate", None) or ""
    diag = getattr(error, "diag", None)
    primary = (getattr(diag, "message_primary", None) or "").strip()
    if code == "25006":
        return DatabaseReadOnly(READ_ONLY)
    if code.startswith("28"):
        return DatabaseUnavailable(
            "the database server refused the database user or password of the database URL "
            "(--db or CELLBATCH_DATABASE_URL; not your cellbatch log-in)"
        )
    if code == "3D000" or (not code and "does not exist" in str(error)):
        return DatabaseUnavailable(
            "the database named in the database URL does not exist on the server: check --db "
            "(or CELLBATCH_DATABASE_URL)"
        )
    if not code and type(error).__name__ == "DataError":  # the driver's, converting a value
        first = str(error).strip().splitlines()[0] if str(error).strip() else "DataError"
        return UnreadableStoredValue(UNREADABLE.format(what=first))
    if not code or code.startswith(("08", "57P")):
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return DatabaseUnavailable(f"cannot reach the database server: {first}")
    if code == "55P03":  # lock_not_available: the lock timeout ran out
        return DatabaseUnavailable(BUSY)
    if code in ("40001", "40P01") or code.startswith("55P"):
        return DatabaseUnavailable(
            "the change met another terminal's change at the same moment: nothing was saved; "
            "try again"
        )
    if code.startswith("53"):
        return DatabaseUnavailable(
            "the database server is out of resources (disk, memory or connections): nothing "
            "was saved; tell the administrator"
        )
    if code in ("42P01", "42703"):
        return SchemaMismatch(SCHEMA.format(what=primary or code))
    if code.startswith("22"):
        return DatabaseUnavailable(
            "a value does not fit the database (too long or out of range): nothing was saved; "
            "shorten or correct it"
        )
    if integrity or code.startswith("23"):
        constraint = getattr(diag, "constraint_name", None)
        return DatabaseUnavailable(
            "the database refused the change as inconsistent with what it holds"
            + (f" (rule {constraint})" if constraint else "")
            + ": nothing was saved"
        )
    return DatabaseUnavailable(
        f"the database refused the operation (SQLSTATE {code}: {primary}): nothing was saved"
    )


def database_problem(error: BaseException) -> CellbatchError | None:
    """The user's message for ``error`` if it is a database failure, else None.

    Accepts SQLAlchemy's wrapped errors, the drivers' own, and Alembic's (a schema version
    this program does not know).
    """
    from sqlalchemy.exc import DBAPIError, IntegrityError

    if isinstance(error, CellbatchError):
        return error
    if type(error).__name__ == "CommandError" and type(error).__module__.startswith("alembic"):
        return SchemaMismatch(
            "the database's schema version is not one this program knows: it was made by a "
            "newer version of cellbatch; use that version"
        )
    original: BaseException = error
    if isinstance(error, DBAPIError):
        original = error.orig if error.orig is not None else error
        if not isinstance(original, Exception):
            return DatabaseUnavailable("the database failed: nothing was saved")
    if isinstance(original, sqlite3.Error):
        return _sqlite_problem(original)
    if type(original).__module__.startswith("psycopg"):
        return _postgresql_problem(original, integrity=isinstance(error, IntegrityError))
    if isinstance(error, DBAPIError):
        return DatabaseUnavailable(f"the database failed ({type(original).__name__})")
    return None
