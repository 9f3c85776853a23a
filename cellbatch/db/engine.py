"""Open a database by URL: SQLite (WAL, foreign keys on) or PostgreSQL through psycopg 3.

Both wait for a lock at most ``lock_timeout`` seconds (SQLite's busy timeout, PostgreSQL's
``lock_timeout``), then refuse: a terminal is never left hanging behind another.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlmodel import create_engine

from cellbatch.domain.errors import InvalidInput
from cellbatch.settings import default_data_dir


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and route them through psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


WRITE_OPTION = "cellbatch_write"
"""Execution option marking a connection that will write (SQLite: BEGIN IMMEDIATE)."""

LOCK_TIMEOUT_S = 10.0
"""How long a write waits for another terminal's write to finish before it is refused."""


def _sqlite_pragmas(lock_timeout: float):
    def on_connect(dbapi_connection, _record) -> None:
        # the driver must not open transactions itself: _sqlite_begin does, so that a writer
        # takes the write lock at BEGIN instead of failing on upgrade when another writes
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(lock_timeout * 1000)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    return on_connect


def _postgresql_settings(lock_timeout: float):
    def on_connect(dbapi_connection, _record) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True  # a plain SET, kept for the connection's life
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = '{int(lock_timeout * 1000)}ms'")
        dbapi_connection.autocommit = autocommit

    return on_connect


def _sqlite_begin(connection) -> None:
    immediate = connection.get_execution_options().get(WRITE_OPTION)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str, *, lock_timeout: float = LOCK_TIMEOUT_S) -> Engine:
    """Create an engine for ``url``; the default SQLite file's folder is created on first use.

    ``lock_timeout`` (seconds) bounds every wait for another connection's lock.
    """
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InvalidInput("--db", f"not a database URL: {url!r}") from exc
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            folder = Path(database).expanduser().parent
            if folder.resolve() == default_data_dir().expanduser().resolve():
                folder.mkdir(parents=True, exist_ok=True)  # the default is made on first use
            elif not folder.is_dir():
                raise InvalidInput(
                    "--db", f"folder {folder} does not exist; expected the path of a database file"
                )
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas(lock_timeout))
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() == "postgresql":
        engine = create_engine(url, pool_pre_ping=True)
        event.listen(engine, "connect", _postgresql_settings(lock_timeout))
        return engine
    raise InvalidInput(
        "--db",
        f"unsupported database {parsed.get_backend_name()!r}: "
        "use sqlite:///PATH or postgresql://USER@HOST/DB",
    )
