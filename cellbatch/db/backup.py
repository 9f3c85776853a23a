"""Copying a whole database out and back in: SQLite's online backup, pg_dump and pg_restore.

Each copy is consistent: SQLite's backup API copies the file in one step under one read
lock; pg_dump works in a snapshot exported from the transaction that also reads the schema
revision and the audit head, so what the manifest says is exactly what the dump holds.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from cellbatch.db.database import Database
from cellbatch.db.failures import DatabaseUnavailable

PG_TOOL_TIMEOUT_S = 6 * 3600
"""A dump or restore that runs longer than this is taken as hung."""


@dataclass(frozen=True)
class CopyState:
    """What a copy holds: its schema revision and the last link of its audit chain."""

    schema_revision: str
    audit_seq: int
    audit_hash: str
    chain_id: str


_STATE = (
    "SELECT (SELECT version_num FROM alembic_version), "
    "(SELECT seq FROM audit_head WHERE id = 1), (SELECT hash FROM audit_head WHERE id = 1), "
    "(SELECT chain_id FROM audit_seal WHERE id = 1)"
)


def sqlite_copy(db: Database, target: Path) -> CopyState:
    """Copy the SQLite database ``db`` into the new file ``target`` with the online backup API.

    Other terminals go on reading and writing; the copy is the database as of one moment.
    The copy's state is read from the copy itself.
    """
    raw = db.engine.raw_connection()
    try:
        destination = sqlite3.connect(target)
        try:
            raw.driver_connection.backup(destination)  # all pages in one step: one moment
            revision, seq, head, chain = destination.execute(_STATE).fetchone()
            check = destination.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            destination.close()
    finally:
        raw.close()
    if check != "ok":
        raise DatabaseUnavailable(f"the copy of the database is damaged ({check}): no backup made")
    return CopyState(revision, seq, head, chain)


def sqlite_state(path: Path) -> CopyState:
    """The schema revision and audit head of an SQLite file (read-only)."""
    connection = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    try:
        revision, seq, head, chain = connection.execute(_STATE).fetchone()
    finally:
        connection.close()
    return CopyState(revision, seq, head, chain)


# ---------------------------------------------------------------------- PostgreSQL


def pg_tool(name: str) -> str:
    """The path of a PostgreSQL client program (``pg_dump``, ``pg_restore``).

    ``CELLBATCH_PG_BINDIR`` first, then the newest ``/usr/lib/postgresql/*/bin`` (a client
    must not be older than the server), then ``PATH``.
    """
    candidates = []
    if os.environ.get("CELLBATCH_PG_BINDIR"):
        candidates.append(Path(os.environ["CELLBATCH_PG_BINDIR"]) / name)
    versions = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(versions)
    found = shutil.which(name)
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise DatabaseUnavailable(
        f"{name} (PostgreSQL's client) was not found: install it (Debian: apt-get install "
        "postgresql-client) or set CELLBATCH_PG_BINDIR to the folder holding it"
    )


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The connection string for a libpq program, and the environment with the password."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    # the URL names everything itself; the environment's defaults must not creep in
    for name in ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGSERVICE"):
        env.pop(name, None)
    dsn = parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return dsn, env


def _run(args: list[str], env: dict[str, str], what: str) -> None:
    try:
        done = subprocess.run(
            args, env=env, capture_output=True, text=True, timeout=PG_TOOL_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DatabaseUnavailable(f"{what} failed: {exc}") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        said = "; ".join(lines[-3:]) or f"exit {done.returncode}"
        raise DatabaseUnavailable(f"{what} failed: {said}")


def pg_dump(db: Database, target: Path) -> CopyState:
    """Dump the PostgreSQL database ``db`` to ``target`` (pg_dump's custom format).

    The dump runs in a snapshot exported from the transaction that reads the schema
    revision and the audit head: both describe exactly what the dump holds. Owners and
    privileges are left out: the restoring account owns what it restores.
    """
    dsn, env = _libpq(db.url)
    with db.engine.connect() as connection:
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            revision, seq, head, chain = connection.execute(text(_STATE)).one()
            _run(
                [
                    pg_tool("pg_dump"),
                    "--format=custom",
                    "--no-owner",
                    "--no-privileges",
                    f"--snapshot={snapshot}",
                    f"--file={target}",
                    f"--dbname={dsn}",
                ],
                env,
                "pg_dump",
            )
    return CopyState(revision, seq, head, chain)


def pg_restore(url: str, dump: Path) -> None:
    """Restore a custom-format dump into the empty PostgreSQL database ``url``: all or nothing."""
    dsn, env = _libpq(url)
    _run(
        [
            pg_tool("pg_restore"),
            "--single-transaction",
            "--exit-on-error",
            "--no-owner",
            "--no-privileges",
            f"--dbname={dsn}",
            str(dump),
        ],
        env,
        "pg_restore",
    )


def pg_clear(db: Database) -> None:
    """Remove what a restore put into a database that was empty before it."""
    with db.engine.begin() as connection:
        for kind, drop in (("r", "TABLE"), ("v", "VIEW"), ("S", "SEQUENCE")):
            names = connection.execute(
                text(
                    "SELECT c.relname FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' AND c.relkind = :kind"
                ),
                {"kind": kind},
            ).scalars()
            for name in list(names):
                connection.execute(text(f'DROP {drop} IF EXISTS public."{name}" CASCADE'))
        types = connection.execute(
            text(
                "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
                "WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd')"
            )
        ).scalars()
        for name in list(types):
            connection.execute(text(f'DROP TYPE IF EXISTS public."{name}" CASCADE'))
