"""An opened database: its engine, schema state and server clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from cellbatch.db import locks, migrate
from cellbatch.db.engine import WRITE_OPTION, make_engine, normalise_url
from cellbatch.domain.errors import CellbatchError


class DatabaseUnavailable(CellbatchError):
    """The database cannot be opened or is at the wrong schema version."""

    exit_code = 8


class Database:
    """A database the program works on, opened by URL."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.engine: Engine = make_engine(self.url)
        self._write_engine = self.engine.execution_options(**{WRITE_OPTION: True})

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @property
    def display_url(self) -> str:
        """The URL without its password, for showing."""
        return self.engine.url.render_as_string(hide_password=True)

    def files(self) -> tuple[Path, ...]:
        """The files the records are kept in: never overwritten by a document.

        For SQLite, the database file and its journal companions; a server keeps its own.
        """
        database = self.engine.url.database
        if self.backend != "sqlite" or not database or database == ":memory:":
            return ()
        path = Path(database).expanduser()
        return (path, *(path.with_name(path.name + end) for end in ("-wal", "-shm", "-journal")))

    def session(self) -> Session:
        """A new session for reading; objects stay readable after commit."""
        return Session(self.engine, expire_on_commit=False)

    def write_session(self) -> Session:
        """A new session for one unit of work, already holding the database's write lock.

        The lock is taken before anything is read (see :mod:`cellbatch.db.locks`); it waits
        for the writer before it, and raises ``OperationalError`` after the lock timeout.
        """
        session = Session(self._write_engine, expire_on_commit=False)
        try:
            locks.hold(session.connection(), locks.WRITE_LOCK)
        except BaseException:
            session.close()
            raise
        return session

    def ensure_schema(self, *, upgrade: bool = False) -> str:
        """Create the schema on an empty database; upgrade an old one only when asked.

        Returns what was done: ``created``, ``upgraded`` or ``current`` (also when another
        terminal created or upgraded it while this one waited for the migration lock).
        """
        head = migrate.head_revision()
        try:
            current = migrate.current_revision(self.engine)
            if current == head:
                return "current"
            if current is not None and not upgrade:
                raise self._needs_upgrade(current, head)
            before = migrate.upgrade(self.url, from_empty_only=not upgrade)
        except OperationalError as exc:
            raise DatabaseUnavailable(
                f"cannot open database {self.display_url}: {exc.orig}"
            ) from exc
        if before == head:
            return "current"
        if before is None:
            return "created"
        if not upgrade:
            raise self._needs_upgrade(before, head)
        return "upgraded"

    def _needs_upgrade(self, current: str, head: str) -> DatabaseUnavailable:
        return DatabaseUnavailable(
            f"database {self.display_url} is at schema {current}, this program needs {head}: "
            "run `cellbatch init` to upgrade it"
        )

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def server_now(session: Session) -> datetime:
    """The database server's current UTC time, the clock of the audit trail.

    PostgreSQL serves several terminals, so its clock is the one that counts; an SQLite
    file has no server and the local clock is used.
    """
    if session.get_bind().dialect.name == "postgresql":
        return session.execute(text("SELECT statement_timestamp()")).scalar().astimezone(UTC)
    return datetime.now(UTC)
