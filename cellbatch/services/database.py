"""Opening the database the interfaces work on, and what its failures mean for the user."""

from __future__ import annotations

from cellbatch.db.database import Database
from cellbatch.db.engine import normalise_url
from cellbatch.db.failures import (
    DatabaseDamaged,
    DatabaseReadOnly,
    DatabaseUnavailable,
    SchemaMismatch,
    database_problem,
)
from cellbatch.domain.errors import CellbatchError, InvalidInput
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


def init_database(url: str | None = None, *, owner_url: str | None = None) -> tuple[Database, str]:
    """Create (in an empty database or a new file) or upgrade the schema.

    Returns the database and what was done. A foreign database, one made by a newer
    program and one whose schema version was removed are refused and left as they are.
    The site key is made first for a database not yet sealed under one
    (``Database.key_created``); a sealed database must come with its own key. With
    ``owner_url`` (PostgreSQL) the schema is made or upgraded as that owner role, which then
    grants the role of ``url`` only the application's rights (:mod:`cellbatch.db.pg_roles`).
    """
    url = url or default_database_url()
    if owner_url is None:
        db = Database(url, access="create")
        done = db.ensure_schema(upgrade=True)
    else:  # PostgreSQL with two roles: the owner migrates, the application only works
        role = application_role(url)
        application_role(owner_url)  # PostgreSQL too
        owner = Database(owner_url, access="create")
        try:
            done = owner.ensure_schema(upgrade=True)
            owner.grant_application_role(role)
        finally:
            owner.dispose()
        db = Database(url, access="write")
        db.key_created = owner.key_created
        db.ensure_schema()
    db.site_key()  # the database's own key, or a message saying what is wrong with it
    return db, done


def application_role(url: str) -> str:
    """The role a PostgreSQL URL connects as (the application's, with ``--owner-db``)."""
    from sqlalchemy.engine import make_url

    role = make_url(normalise_url(url)).username
    if make_url(normalise_url(url)).get_backend_name() != "postgresql":
        raise InvalidInput(
            "--owner-db",
            "an owner role is PostgreSQL's; an SQLite file is protected by its file mode "
            "(0600, the service account's): give only --db",
        )
    if not role:
        raise InvalidInput("--db", "name the application's role in the URL (postgresql://ROLE@…)")
    return role


def explain_failure(error: BaseException) -> CellbatchError | None:
    """The user's message for a failure, if it is one the program can explain.

    Every interface shows database failures through this one function: what is wrong and
    what to do, never the SQL or its parameters.
    """
    return database_problem(error)
