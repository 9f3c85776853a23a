"""Schema migrations with Alembic: upgrade, current and head revisions, drift check."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from cellbatch.db import locks
from cellbatch.db.audit_chain_key import SiteKey
from cellbatch.db.engine import WRITE_OPTION, make_engine
from cellbatch.db.migration_audit import SITE_KEY_INFO
from cellbatch.db.schema_head import SCHEMA_HEAD

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SCHEMA_HEAD_FILE = Path(__file__).resolve().parent / "schema_head.py"

MIGRATION_LOCK_TIMEOUT_S = 600.0
"""How long a second `init` waits for the first one's migration (a big upgrade takes time)."""


def _config(connection=None):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


class SchemaHeadDrift(RuntimeError):
    """``schema_head.SCHEMA_HEAD`` is not the migrations' head: a developer's slip, said at once."""


def head_revision() -> str:
    """The newest migration this program knows (Alembic's head, checked against SCHEMA_HEAD)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head != SCHEMA_HEAD:
        raise SchemaHeadDrift(
            f"{SCHEMA_HEAD_FILE} names schema {SCHEMA_HEAD}, but the newest migration is "
            f'{head}: set SCHEMA_HEAD = "{head}" there (migrate.revision does it for the '
            "migrations it writes)"
        )
    return head


def write_schema_head(head: str) -> None:
    """Record ``head`` as the program's schema head in ``schema_head.py``."""
    text_before = SCHEMA_HEAD_FILE.read_text(encoding="utf-8")
    line = next(x for x in text_before.splitlines() if x.startswith("SCHEMA_HEAD = "))
    SCHEMA_HEAD_FILE.write_text(
        text_before.replace(line, f'SCHEMA_HEAD = "{head}"'), encoding="utf-8"
    )


def known_revisions() -> frozenset[str]:
    """Every schema revision this program's migrations know (older ones and the head)."""
    from alembic.script import ScriptDirectory

    return frozenset(s.revision for s in ScriptDirectory.from_config(_config()).walk_revisions())


def _revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as connection:
        return _revision(connection)


def _use_wal(dbapi_connection, attempts: int = 600) -> None:
    """Put an SQLite file in WAL mode (kept in the file: every later connection uses it).

    Two terminals switching a new file at the same moment would each wait for the other's
    lock; SQLite refuses one at once (SQLITE_BUSY) instead of waiting, so it tries again.
    """
    for _ in range(attempts):
        try:
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF != sqlite3.SQLITE_BUSY:
                raise
            time.sleep(0.1)
    dbapi_connection.execute("PRAGMA journal_mode=WAL")


def upgrade(
    url: str, *, from_empty_only: bool = False, site_key: SiteKey | None = None
) -> str | None:
    """Bring the schema of the database at ``url`` to the head revision, under the migration lock.

    Two terminals that start on an empty (or old) database at once take turns: the second
    finds the work done. Returns the revision found once the lock was held (None: empty);
    with ``from_empty_only`` an existing schema is left as it is. ``site_key`` seals the
    audit entries migrations write (it is handed to them on the connection, never stored).
    """
    from alembic import command

    engine = make_engine(url, "create", lock_timeout=MIGRATION_LOCK_TIMEOUT_S)
    try:
        if engine.dialect.name == "sqlite":
            with engine.connect() as connection:  # outside any transaction
                _use_wal(connection.connection.dbapi_connection)
        with engine.execution_options(**{WRITE_OPTION: True}).begin() as connection:
            locks.hold(connection, locks.MIGRATION_LOCK)
            if site_key is not None:
                connection.info[SITE_KEY_INFO] = site_key
            before = _revision(connection)
            if before != head_revision() and (before is None or not from_empty_only):
                command.upgrade(_config(connection), "head")
        return before
    finally:
        engine.dispose()


def downgrade(engine: Engine, revision: str, *, site_key: SiteKey | None = None) -> None:
    """Take the schema back to ``revision`` (developer and test tool)."""
    from alembic import command

    with engine.begin() as connection:
        if site_key is not None:
            connection.info[SITE_KEY_INFO] = site_key
        command.downgrade(_config(connection), revision)


def pending_changes(engine: Engine) -> list:
    """Differences between the migrated schema and the table models (empty when in sync)."""
    import warnings

    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import cellbatch.db.tables  # noqa: F401

    with engine.connect() as connection, warnings.catch_warnings():
        # SQLite cannot reflect an expression index (ux_app_user_username_folded), so it is
        # not compared there; PostgreSQL compares it
        warnings.filterwarnings("ignore", ".*expression-based index.*")
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, SQLModel.metadata)


def revision(engine: Engine, message: str) -> None:
    """Autogenerate a new migration script from the models (developer tool).

    The new revision becomes the program's schema head (``schema_head.py``).
    """
    from alembic import command

    with engine.begin() as connection:
        script = command.revision(_config(connection), message=message, autogenerate=True)
    write_schema_head(script.revision)
