"""The database defends the trail itself (issue 10, GMP-25).

On PostgreSQL, ``init --owner-db`` migrates as the owner role and leaves the application's
role (the one every terminal connects as) able to add to the audit trail but never to
change, delete or truncate it. On SQLite the file is the service account's alone (0600),
and an owner role is refused as meaningless there.
"""

from __future__ import annotations

import os
import stat
import uuid
from contextlib import contextmanager

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from tests.conftest import PG_URL, _pg_admin

GMP25 = pytest.mark.requirement("GMP-25")
PASSWORD = "admin-password-1"
INIT_ADMIN = ("--admin", "admin", "--name", "Ada Admin", "--password-stdin")

REFUSED = (
    "UPDATE audit_entry SET username = 'someone' WHERE seq = 1",
    "DELETE FROM audit_entry WHERE seq > 1",
    "TRUNCATE audit_entry",
    "UPDATE audit_seal SET key_fingerprint = repeat('0', 64)",
    "DELETE FROM audit_seal",
    "DELETE FROM audit_head",
    "UPDATE alembic_version SET version_num = 'x'",
)
"""What the application's role tries on the audit tables; each must be refused."""


@contextmanager
def _two_roles():
    """A PostgreSQL database owned by its own owner role, and a separate application role."""
    tag = uuid.uuid4().hex[:8]
    owner, app, name = f"cb_owner_{tag}", f"cb_app_{tag}", f"cb_roles_{tag}"
    with _pg_admin() as conn:
        conn.execute(f'CREATE ROLE "{owner}" LOGIN')
        conn.execute(f'CREATE ROLE "{app}" LOGIN')
        conn.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
    base = make_url(PG_URL)
    urls = tuple(
        base.set(username=role, database=name).render_as_string(hide_password=False)
        for role in (owner, app)
    )
    yield urls
    with _pg_admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'DROP ROLE IF EXISTS "{app}"')
        conn.execute(f'DROP ROLE IF EXISTS "{owner}"')


@GMP25
def test_the_database_defends_the_trail(empty_db_url, cli, tmp_path):
    """PostgreSQL: the application's role cannot change or remove audit entries. SQLite: the
    file is its owner's alone, and an owner role is refused."""
    if empty_db_url.startswith("sqlite"):
        _sqlite_file_is_private(tmp_path, cli)
        return
    with _two_roles() as (owner_url, app_url):
        _application_role_only_adds(owner_url, app_url, cli)


def _application_role_only_adds(owner_url: str, app_url: str, cli) -> None:
    from cellbatch.services.database import open_database

    made = cli("--db", app_url, "init", "--owner-db", owner_url)
    assert made.code == 0, made.err
    loaded = cli("--db", app_url, "demo")  # the whole process, as the application's role
    assert loaded.code == 0, loaded.err
    db = open_database(app_url)
    for statement in REFUSED:
        with pytest.raises(ProgrammingError, match="permission denied"):
            with db.engine.begin() as connection:
                connection.execute(text(statement))
    db.dispose()
    verified = cli("--db", app_url, "audit", "verify")
    assert verified.code == 0 and "audit trail intact" in verified.out, verified.err
    # the owner as the application's role is refused: it could do all of the above
    same = cli("--db", owner_url, "init", "--owner-db", owner_url)
    assert same.code == 2 and "is the owner role" in same.err


def _sqlite_file_is_private(tmp_path, cli) -> None:
    path = tmp_path / "cellbatch.db"
    made = cli("--db", f"sqlite:///{path}", "init", *INIT_ADMIN, input=PASSWORD)
    assert made.code == 0, made.err
    for companion in (path, path.with_name(path.name + "-wal")):
        if companion.exists():
            assert stat.S_IMODE(os.stat(companion).st_mode) == 0o600, companion
    refused = cli("--db", f"sqlite:///{tmp_path / 'b.db'}", "init", "--owner-db", "sqlite://")
    assert refused.code == 2 and "--owner-db" in refused.err and "PostgreSQL" in refused.err
    assert not (tmp_path / "b.db").exists()
