"""Open a database by URL: SQLite (WAL, foreign keys on) or PostgreSQL through psycopg 3.

Both wait for a lock at most ``lock_timeout`` seconds (SQLite's busy timeout, PostgreSQL's
``lock_timeout``), then refuse: a terminal is never left hanging behind another.

How a database is opened depends on what the command will do with it (:data:`Access`):
reading opens an SQLite file read-only (``mode=ro``; on read-only media, where SQLite cannot
make its shared-memory file, as an immutable file), writing opens an existing file only, and
only creating (``cellbatch init``, the demo loader) may make a new file.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from cellbatch.db.failures import DatabaseUnavailable
from cellbatch.db.locks import LOCK_TIMEOUT_S
from cellbatch.db.stored_documents import read_document, strict_sqlite_types
from cellbatch.domain.errors import InvalidInput
from cellbatch.settings import default_data_dir

Access = Literal["read", "write", "create"]
"""What a command does with the database: only ``create`` may make a new one."""

SQLITE_HEADER = b"SQLite format 3\x00"


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and route them through psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


WRITE_OPTION = "cellbatch_write"
"""Execution option marking a connection that will write (SQLite: BEGIN IMMEDIATE)."""

__all__ = ["LOCK_TIMEOUT_S", "WRITE_OPTION", "Access", "SqliteFile", "make_engine", "open_engine"]


def _set_up(
    dbapi_connection: sqlite3.Connection, lock_timeout: float = LOCK_TIMEOUT_S
) -> sqlite3.Connection:
    # the driver must not open transactions itself: _sqlite_begin does, so that a writer
    # takes the write lock at BEGIN instead of failing on upgrade when another writes.
    # (WAL mode is kept in the file itself: set once, when cellbatch creates its schema,
    # so that opening a file that is not cellbatch's changes nothing in it.)
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(lock_timeout * 1000)}")
    cursor.close()
    return dbapi_connection


def _postgresql_settings(lock_timeout: float):
    def on_connect(dbapi_connection, _record) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True  # a plain SET, kept for the connection's life
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = '{int(lock_timeout * 1000)}ms'")
        dbapi_connection.autocommit = autocommit

    return on_connect


def _sqlite_begin(lock_timeout: float):
    def on_begin(connection) -> None:
        if not connection.get_execution_options().get(WRITE_OPTION):
            connection.exec_driver_sql("BEGIN")
            return
        # SQLite's own busy handler polls ever more slowly (at last every 100 ms), so a writer
        # that has waited long keeps losing the lock to newer ones and can wait past the
        # timeout; polling in short random steps gives every waiting writer the same chance
        # each time the lock comes free
        driver = connection.connection.driver_connection
        deadline = time.monotonic() + lock_timeout
        driver.execute("PRAGMA busy_timeout=0")
        try:
            while True:
                try:
                    driver.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                        raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
                time.sleep(random.uniform(0.0005, 0.004))
        finally:
            driver.execute(f"PRAGMA busy_timeout={int(lock_timeout * 1000)}")

    return on_begin


def check_sqlite_file(path: Path, access: Access) -> None:
    """Refuse, before SQLite touches it, a path that is not an existing SQLite file.

    Only ``create`` accepts a missing (or empty) file; nothing is ever made otherwise.
    """
    if not os.path.lexists(path):
        if access != "create":
            raise InvalidInput(
                "--db",
                f"no database at {path}: check --db (or CELLBATCH_DATABASE_URL); "
                "`cellbatch init` creates a new one",
            )
        return
    if not path.is_file():
        raise InvalidInput("--db", f"{path} is not a file; expected the path of a database file")
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise InvalidInput("--db", f"cannot read {path}: {exc.strerror or exc}") from None
    if not header:
        if access != "create":
            raise InvalidInput(
                "--db",
                f"{path} is an empty file, not a cellbatch database: check --db; "
                "`cellbatch init` makes it one",
            )
        return
    if header != SQLITE_HEADER:
        raise InvalidInput("--db", f"{path} is not a database file (it is not SQLite): check --db")


@dataclass
class SqliteFile:
    """How one SQLite file is connected to for one kind of access."""

    path: Path
    access: Access
    lock_timeout: float = LOCK_TIMEOUT_S
    read_only_media: bool = False
    """Set once a read found that SQLite cannot even make its lock files beside the file."""

    def _uri(self, mode: str, *, immutable: bool = False) -> str:
        uri = f"{self.path.absolute().as_uri()}?mode={mode}"
        return uri + "&immutable=1" if immutable else uri

    def connect(self) -> sqlite3.Connection:
        """A new DB-API connection, set up: ``ro``, ``rw`` (existing only) or ``rwc`` (create).

        A file that cannot be written (read-only media, a read-only copy) is opened for
        reading whatever the access: its reads work, and every write is refused by
        :class:`~cellbatch.db.database.Database` with a message.
        """
        if self.access == "create" or (self.access == "write" and self.writable):
            mode = "rwc" if self.access == "create" else "rw"
            connection = sqlite3.connect(self._uri(mode), uri=True, check_same_thread=False)
            return _set_up(connection, self.lock_timeout)
        if not self.read_only_media:
            connection = sqlite3.connect(self._uri("ro"), uri=True, check_same_thread=False)
            try:
                connection.execute("PRAGMA schema_version").fetchone()
                return _set_up(connection, self.lock_timeout)
            except sqlite3.OperationalError as exc:
                connection.close()
                if getattr(exc, "sqlite_errorname", "") != "SQLITE_CANTOPEN":
                    raise
                if self._wal_pending():
                    raise DatabaseUnavailable(
                        f"{self.path} lies on read-only media with changes still in its "
                        f"write-ahead log ({self.path.name}-wal) and no {self.path.name}-shm "
                        "file to read it with: copy the database and its -wal file to "
                        "writable storage, then read the copy"
                    ) from None
            # a WAL database on read-only media: SQLite cannot make the -shm file. Nothing
            # can write there either, so the file is read as immutable.
            self.read_only_media = True
        connection = sqlite3.connect(
            self._uri("ro", immutable=True), uri=True, check_same_thread=False
        )
        return _set_up(connection, self.lock_timeout)

    def _wal_pending(self) -> bool:
        """Whether a write-ahead log with content lies beside the file (it must not be skipped)."""
        wal = self.path.with_name(self.path.name + "-wal")
        try:
            return wal.stat().st_size > 0
        except OSError:
            return False

    @property
    def writable(self) -> bool:
        """Whether the file and its folder can be written (read-only media cannot)."""
        if self.read_only_media:
            return False
        return os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK)


def sqlite_file(url: str) -> Path | None:
    """The file an SQLite URL names, or None (PostgreSQL, or SQLite in memory)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def make_engine(
    url: str, access: Access = "write", *, lock_timeout: float = LOCK_TIMEOUT_S
) -> Engine:
    """An engine for ``url`` opened for ``access`` (see :func:`open_engine`)."""
    return open_engine(url, access, lock_timeout=lock_timeout)[0]


def open_engine(
    url: str, access: Access = "write", *, lock_timeout: float = LOCK_TIMEOUT_S
) -> tuple[Engine, SqliteFile | None]:
    """An engine for ``url`` opened for ``access``; for an SQLite file, also how it connects.

    The default SQLite file's folder is created on first use, by ``create`` only.
    ``lock_timeout`` (seconds) bounds every wait for another connection's lock.
    """
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InvalidInput("--db", f"not a database URL: {url!r}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = sqlite_file(url)
        if path is None:  # in memory: nothing to check
            engine = create_engine(
                url, connect_args={"check_same_thread": False}, json_deserializer=read_document
            )
            strict_sqlite_types(engine.dialect)
            event.listen(engine, "connect", lambda c, _r: _set_up(c, lock_timeout))
            event.listen(engine, "begin", _sqlite_begin(lock_timeout))
            return engine, None
        folder = path.parent
        if access == "create":
            if folder.resolve() == default_data_dir().expanduser().resolve():
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)  # made on first use, private
            elif not folder.is_dir():
                raise InvalidInput(
                    "--db", f"folder {folder} does not exist; expected the path of a database file"
                )
        check_sqlite_file(path, access)
        opener = SqliteFile(path, access, lock_timeout)
        engine = create_engine(url, creator=opener.connect, json_deserializer=read_document)
        strict_sqlite_types(engine.dialect)
        event.listen(engine, "begin", _sqlite_begin(lock_timeout))
        return engine, opener
    if backend == "postgresql":
        options = {}
        if access == "read":  # a reading command's transactions cannot write, even by mistake
            options["options"] = "-c default_transaction_read_only=on"
        engine = create_engine(
            url, pool_pre_ping=True, connect_args=options, json_deserializer=read_document
        )
        event.listen(engine, "connect", _postgresql_settings(lock_timeout))
        return engine, None
    raise InvalidInput(
        "--db",
        f"unsupported database {backend!r}: use sqlite:///PATH or postgresql://USER@HOST/DB",
    )
