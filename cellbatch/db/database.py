"""An opened database: its engine, schema state and server clock."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from cellbatch.db import locks, pg_roles
from cellbatch.db.audit_chain_key import (
    SiteKey,
    SiteKeyProblem,
    load_key,
    load_or_create_key,
)
from cellbatch.db.engine import (
    WRITE_OPTION,
    Access,
    SqliteFile,
    make_engine,
    normalise_url,
    open_engine,
)
from cellbatch.db.failures import (
    READ_ONLY,
    DatabaseReadOnly,
    DatabaseUnavailable,
    SchemaMismatch,
    database_problem,
)
from cellbatch.db.locks import LOCK_TIMEOUT_S
from cellbatch.db.schema_head import SCHEMA_HEAD
from cellbatch.db.stored_text import lenient_text
from cellbatch.domain.errors import InvalidInput
from cellbatch.settings import anchor_log_path, key_file_path

if TYPE_CHECKING:  # the ORM (and the migrations) are loaded when first used: docs/start-up.md
    from sqlmodel import Session

__all__ = ["Database", "DatabaseUnavailable", "SchemaState", "server_now"]

CELLBATCH_TABLES = frozenset({"app_user", "audit_entry", "audit_head"})
"""Tables every cellbatch database has had since its first schema."""

_REVISION_OF_CELLBATCH_DATABASE = text(
    "SELECT version_num FROM alembic_version WHERE "
    + " AND ".join(f"NOT EXISTS (SELECT 1 FROM {t} WHERE 1 = 0)" for t in sorted(CELLBATCH_TABLES))
)
"""The schema revision, in one statement that fails unless cellbatch's tables are there too."""


@dataclass(frozen=True)
class SchemaState:
    """What a database holds, as far as this program is concerned."""

    kind: Literal["empty", "current", "older", "newer", "foreign", "unversioned"]
    revision: str | None = None
    tables: tuple[str, ...] = ()


class Database:
    """A database the program works on, opened by URL for reading, writing or creating.

    ``read`` opens an SQLite file read-only (its writes, such as a failed log-in or the
    record of a print, go through a separate connection that may be refused); ``write``
    opens an existing database only; ``create`` may make a new one. ``lock_timeout``
    (seconds) is how long a write waits for the one before it. ``key_file`` and
    ``anchor_log`` are the site key and the anchor log (the configuration's by default,
    see :mod:`cellbatch.settings`).
    """

    def __init__(
        self,
        url: str,
        *,
        access: Access = "write",
        lock_timeout: float = LOCK_TIMEOUT_S,
        key_file: Path | None = None,
        anchor_log: Path | None = None,
    ) -> None:
        self.url = normalise_url(url)
        self.access: Access = access
        self.key_file = Path(key_file) if key_file is not None else key_file_path()
        self.anchor_log = Path(anchor_log) if anchor_log is not None else anchor_log_path()
        self.key_created = False
        """Whether opening this database made its site key (``cellbatch init``, first time)."""
        self._key: SiteKey | None = None
        self._chain_id: str | None = None
        self.engine: Engine
        self._sqlite: SqliteFile | None
        self.engine, self._sqlite = open_engine(self.url, access, lock_timeout=lock_timeout)
        self._write_engine: Engine | None = None
        if access != "read":
            self._write_engine = self.engine.execution_options(**{WRITE_OPTION: True})

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @property
    def display_url(self) -> str:
        """The URL without its password, for showing."""
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def read_only_media(self) -> bool:
        """Whether this is an SQLite file that nothing can write (read-only media or copy)."""
        return self._sqlite is not None and not self._sqlite.writable

    def files(self) -> tuple[Path, ...]:
        """The files the records are kept in: never overwritten by a document.

        The site key and the anchor log; for SQLite, also the database file and its journal
        companions (a server keeps its own).
        """
        kept = (self.key_file, self.anchor_log)
        if self._sqlite is None:
            return kept
        path = self._sqlite.path
        ends = ("-wal", "-shm", "-journal")
        return (path, *(path.with_name(path.name + end) for end in ends), *kept)

    def site_key(self) -> SiteKey:
        """The site key, checked to be the one this database's audit trail is sealed under.

        Read once per opened database. SiteKeyProblem when the key file is missing or
        unsafe, or when its fingerprint is not the one the database records: then nothing
        may be written (each entry would break the chain) nor verified.
        """
        if self._key is not None:
            return self._key
        key = load_key(self.key_file)
        try:
            with self.engine.connect() as connection, lenient_text(connection):
                sealed = connection.execute(
                    text("SELECT key_fingerprint FROM audit_seal WHERE id = 1")
                ).scalar()
        except DBAPIError as exc:
            raise database_problem(exc) from exc
        if sealed is not None and type(sealed) is not str:  # edited into a number or bytes
            sealed = repr(sealed)
        if sealed is None:
            raise SchemaMismatch(
                f"database {self.display_url} records no site key (its audit_seal row is "
                "missing): its audit trail cannot be trusted; restore the last verified backup"
            )
        if sealed != key.fingerprint:
            raise SiteKeyProblem(
                f"site key {key.path} (fingerprint {key.short}) is not the key of database "
                f"{self.display_url}, whose audit trail is sealed under key {sealed[:16]}: "
                "nothing was read or written. Use this database's own key file "
                "(CELLBATCH_KEY_FILE); see docs/trust-model.md"
            )
        self._key = key
        return key

    def session(self) -> Session:
        """A new session for reading; objects stay readable after commit."""
        from sqlmodel import Session

        return Session(self.engine, expire_on_commit=False)

    def check_writable(self) -> None:
        """Refuse now, without writing, if this database's writes would be refused.

        DatabaseReadOnly for what nothing may write: an SQLite file on read-only media or a
        read-only copy, a PostgreSQL standby (``pg_is_in_recovery()``). DatabaseUnavailable
        for a PostgreSQL primary whose session was made read-only from outside
        (``default_transaction_read_only``, e.g. through ``PGOPTIONS``): that is not an
        archive, and must not be used as one (the log-in could not count failures).
        """
        if self._sqlite is not None:
            if not self._sqlite.writable:
                raise DatabaseReadOnly(READ_ONLY)
            return
        if self._write_engine is None:
            engine = make_engine(self.url, "write")
            self._write_engine = engine.execution_options(**{WRITE_OPTION: True})
        try:
            with self._write_engine.connect() as connection:
                standby, read_only = connection.execute(
                    text("SELECT pg_is_in_recovery(), current_setting('transaction_read_only')")
                ).one()
        except DBAPIError as exc:
            raise database_problem(exc) from exc
        if standby:
            raise DatabaseReadOnly(READ_ONLY)
        if read_only == "on":
            raise DatabaseUnavailable(
                "the PostgreSQL session is read-only (default_transaction_read_only is on, "
                "e.g. set through PGOPTIONS) although the server is a primary that takes "
                "writes: cellbatch does not work that way (log-ins could not be recorded). "
                "Unset PGOPTIONS (or the role's or database's setting) and try again"
            )

    def write_session(self) -> Session:
        """A new session for one unit of work, already holding the database's write lock.

        The lock is taken before anything is read (see :mod:`cellbatch.db.locks`); it waits
        for the writer before it, and raises ``OperationalError`` after the lock timeout.
        DatabaseReadOnly when the SQLite file cannot be written at all.
        """
        if self._sqlite is not None and not self._sqlite.writable:
            raise DatabaseReadOnly(
                f"the database file {self._sqlite.path} is read-only (a read-only copy or "
                "medium): nothing was saved. Work on the writable database"
            )
        if self._write_engine is None:
            engine = make_engine(self.url, "write")
            self._write_engine = engine.execution_options(**{WRITE_OPTION: True})
        from sqlmodel import Session

        session = Session(self._write_engine, expire_on_commit=False)
        try:
            locks.hold(session.connection(), locks.WRITE_LOCK)
        except BaseException:
            session.close()
            raise
        return session

    @contextmanager
    def snapshot(self) -> Iterator[Database]:
        """The database as of one moment: every read inside sees the same committed state.

        One connection in one read transaction (REPEATABLE READ on PostgreSQL; on SQLite the
        transaction's first read fixes what it sees). A document built inside never mixes
        the states before and after another terminal's write.
        """
        with self.engine.connect() as connection:
            if self.backend == "postgresql":
                connection = connection.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
            with connection.begin():
                connection.execute(text("SELECT 1 FROM audit_head")).all()  # fixes the snapshot
                yield _Snapshot(self, connection)

    def schema_state(self) -> SchemaState:
        """Whether the database is empty, cellbatch's (at which schema), or something else.

        A database at this program's schema is recognised in one query, without Alembic;
        anything else is looked at closely (its tables, and Alembic's list of revisions).
        """
        if self._at_schema_head():
            return SchemaState("current", SCHEMA_HEAD)
        try:
            with self.engine.connect() as connection:
                tables = set(inspect(connection).get_table_names())
                revision = None
                if "alembic_version" in tables:
                    revision = connection.execute(
                        text("SELECT version_num FROM alembic_version")
                    ).scalar()
        except DBAPIError as exc:
            raise database_problem(exc) from exc
        listed = tuple(sorted(tables))
        if not tables:
            return SchemaState("empty")
        if not CELLBATCH_TABLES <= tables:
            return SchemaState("foreign", revision, listed)
        if revision is None:
            return SchemaState("unversioned", None, listed)
        if revision == SCHEMA_HEAD:
            return SchemaState("current", revision, listed)
        from cellbatch.db import migrate

        if revision in migrate.known_revisions():
            return SchemaState("older", revision, listed)
        return SchemaState("newer", revision, listed)

    def _at_schema_head(self) -> bool:
        """Whether the database is cellbatch's at SCHEMA_HEAD (False on any doubt or failure)."""
        try:
            with self.engine.connect() as connection:
                return connection.execute(_REVISION_OF_CELLBATCH_DATABASE).scalar() == SCHEMA_HEAD
        except DBAPIError:
            return False  # no such table, or worse: the close look says which

    def ensure_schema(self, *, upgrade: bool = False) -> str:
        """Check the schema; create it (``create`` access only) or upgrade it when asked.

        Returns what was done: ``created``, ``upgraded`` or ``current`` (also when another
        terminal created or upgraded it while this one waited for the migration lock).
        Refuses, changing nothing, a database that is not cellbatch's, one made by a newer
        program, and one whose schema version was removed.
        """
        state = self.schema_state()
        if state.kind == "current":
            return "current"
        from cellbatch.db import migrate

        head = migrate.head_revision()
        where = self.display_url
        if state.kind == "empty" and self.access != "create":
            raise InvalidInput(
                "--db",
                f"database {where} is empty, not a cellbatch database: check --db; "
                "`cellbatch init` creates one",
            )
        if state.kind == "foreign":
            shown = ", ".join(state.tables[:5]) + (", …" if len(state.tables) > 5 else "")
            raise InvalidInput(
                "--db",
                f"database {where} is not a cellbatch database (it holds other tables: "
                f"{shown}): check --db; cellbatch leaves it untouched",
            )
        if state.kind == "unversioned":
            raise SchemaMismatch(
                f"database {where} has cellbatch's tables but no schema version (its "
                "alembic_version table was emptied or removed outside the program): nothing "
                "can say which schema it has. Restore the last verified backup; `cellbatch "
                "init` will not change it"
            )
        if state.kind == "newer":
            raise SchemaMismatch(
                f"database {where} was made by a newer version of cellbatch (schema "
                f"{state.revision}, unknown to this program, which knows up to {head}): use "
                "that newer version of cellbatch; do not run `cellbatch init` with this one"
            )
        if state.kind == "older" and not upgrade:
            raise self._needs_upgrade(state.revision, head)
        key = self._key_for_migration(state)
        try:  # under the migration lock: another terminal may be doing it right now
            before = migrate.upgrade(self.url, from_empty_only=not upgrade, site_key=key)
        except DBAPIError as exc:
            raise database_problem(exc) from exc
        self.engine.dispose()  # connections opened before saw the file before (its journal mode)
        if before == head:
            return "current"
        if before is None:
            self._private_file()
            return "created"
        if not upgrade:
            raise self._needs_upgrade(before, head)
        return "upgraded"

    def _private_file(self) -> None:
        """A new SQLite file (and its journal companions) readable by its owner only."""
        for path in self.files()[:4] if self._sqlite is not None else ():
            if path.exists():
                os.chmod(path, 0o600)

    def grant_application_role(self, role: str) -> None:
        """As the owner of a PostgreSQL database, give the application role its rights only.

        See :mod:`cellbatch.db.pg_roles`.
        """
        if self.backend != "postgresql":
            raise InvalidInput(
                "--owner-db",
                "an owner role is PostgreSQL's; an SQLite file is protected by its file mode "
                "(0600, the service account's): give only --db",
            )
        try:
            with self.engine.begin() as connection:
                pg_roles.grant_application_role(connection, role)
        except DBAPIError as exc:
            raise database_problem(exc) from exc

    def _key_for_migration(self, state: SchemaState) -> SiteKey:
        """The key migrations seal audit entries with: made now for a database not yet sealed.

        A database already sealed must come with its own key: a new one is never made for it.
        """
        if "audit_seal" in state.tables:
            return load_key(self.key_file)
        key, self.key_created = load_or_create_key(self.key_file)
        return key

    def _needs_upgrade(self, current: str | None, head: str) -> SchemaMismatch:
        return SchemaMismatch(
            f"database {self.display_url} is at schema {current}, this program needs {head}: "
            "run `cellbatch init` to upgrade it"
        )

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        if self._write_engine is not None:
            self._write_engine.dispose()


class _Snapshot(Database):
    """A database seen through one open read transaction (see :meth:`Database.snapshot`)."""

    def __init__(self, parent: Database, connection: Connection) -> None:  # noqa: D107
        self.url = parent.url
        self.access = "read"
        self.key_file = parent.key_file
        self.anchor_log = parent.anchor_log
        self.key_created = False
        self._key = parent._key
        self._chain_id = parent._chain_id
        self.engine = parent.engine
        self._sqlite = parent._sqlite
        self._write_engine = None
        self._connection = connection

    @property
    def connection(self) -> Connection:
        """The snapshot's connection, inside its read transaction (for streamed reads)."""
        return self._connection

    def session(self) -> Session:
        """A session inside the snapshot's transaction (closing it leaves the transaction)."""
        from sqlmodel import Session

        return Session(bind=self._connection, expire_on_commit=False)

    def write_session(self) -> Session:
        """Never: a snapshot is for reading."""
        raise RuntimeError("a snapshot is read-only: write through the database itself")

    @contextmanager
    def snapshot(self) -> Iterator[Database]:
        """Already one snapshot."""
        yield self

    def dispose(self) -> None:
        """The parent database owns the engine."""


def server_now(session: Session | Connection) -> datetime:
    """The database server's current UTC time, the clock of the audit trail.

    PostgreSQL serves several terminals, so its clock is the one that counts; an SQLite
    file has no server and the local clock is used. ``session`` may be a Core connection.
    """
    bind = session if isinstance(session, Connection) else session.get_bind()
    if bind.dialect.name == "postgresql":
        return session.execute(text("SELECT statement_timestamp()")).scalar().astimezone(UTC)
    return datetime.now(UTC)
