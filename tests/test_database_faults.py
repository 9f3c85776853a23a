"""The database the command is pointed at: never created by mistake, never taken over, and every
fault of it a message saying what to do (issue 10 points 12–13, issue 17 points 8 and 10)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from tests.conftest import ADMIN_PASSWORD, REPO, _pg_admin

CELLBATCH = [sys.executable, "-m", "cellbatch"]


def tables(url: str) -> set[str]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as connection:
            return set(inspect(connection).get_table_names())
    finally:
        engine.dispose()


def execute(url: str, sql: str) -> None:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.begin() as connection:
            connection.execute(text(sql))
    finally:
        engine.dispose()


def no_sql(message: str) -> bool:
    return not any(word in message for word in ("[SQL", "SELECT", "INSERT", "UPDATE ", "Traceback"))


def test_a_read_command_on_a_missing_or_empty_database_creates_nothing(cli, empty_db_url):
    """``--db sqlite:///typo.db audit verify`` made a database and said "intact: 0 entries"."""
    for args in (["audit", "verify"], ["batch", "list", "-u", "qa1"], ["sop", "list", "-u", "qa1"]):
        result = cli("--db", empty_db_url, *args)
        assert result.code == 2, result
        assert result.err.startswith("error: --db: "), result
        assert "`cellbatch init` creates" in result.err and "intact" not in result.out
    if empty_db_url.startswith("sqlite"):
        path = Path(empty_db_url.removeprefix("sqlite:///"))
        assert "no database at" in result.err
        assert sorted(p.name for p in path.parent.iterdir()) == []
    else:
        assert "is empty, not a cellbatch database" in result.err
        assert tables(empty_db_url) == set()
    assert cli("--db", empty_db_url, "init").code == 0
    assert cli("--db", empty_db_url, "audit", "verify").code == 0


def test_a_foreign_or_non_database_file_is_refused_and_left_untouched(cli, tmp_path):
    foreign = tmp_path / "other-program.db"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE inventory (item TEXT)")
    before = foreign.read_bytes()
    for args in (["init"], ["audit", "verify"], ["batch", "list", "-u", "qa1"]):
        result = cli("--db", f"sqlite:///{foreign}", *args)
        assert result.code == 2, result
        assert "is not a cellbatch database (it holds other tables: inventory)" in result.err
    assert foreign.read_bytes() == before
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a database at all\n")
    result = cli("--db", f"sqlite:///{text_file}", "batch", "list", "-u", "qa1")
    assert result.code == 2 and f"--db: {text_file} is not a database file" in result.err
    assert text_file.read_text() == "not a database at all\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "other-program.db"]


def test_a_database_from_a_newer_program_says_a_newer_program_is_needed(cli, db_url):
    """It used to say "run `cellbatch init`", and init then failed (Alembic CommandError)."""
    execute(db_url, "UPDATE alembic_version SET version_num = 'fe0000000000'")
    for args in (["batch", "list", "-u", "qa1"], ["audit", "verify"], ["init"]):
        result = cli("--db", db_url, *args)
        assert result.code == 8, result
        assert "was made by a newer version of cellbatch (schema fe0000000000" in result.err
        assert "use that newer version" in result.err and no_sql(result.err)
    assert "app_user" in tables(db_url)


def test_an_emptied_schema_version_is_named_and_init_changes_nothing(cli, db_url):
    """``init`` used to fail with "table app_user already exists" (exit 70, SQL shown)."""
    execute(db_url, "DELETE FROM alembic_version")
    for args in (["init"], ["audit", "verify"], ["batch", "list", "-u", "qa1"]):
        result = cli("--db", db_url, *args)
        assert result.code == 8, result
        assert "has cellbatch's tables but no schema version" in result.err
        assert "Restore the last verified backup" in result.err and no_sql(result.err)


def damage_the_audit_table(path: Path) -> None:
    with sqlite3.connect(path) as connection:
        page = connection.execute("PRAGMA page_size").fetchone()[0]
        (root,) = connection.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'audit_entry'"
        ).fetchone()
    connection.close()
    with open(path, "r+b") as handle:
        handle.seek((root - 1) * page)
        handle.write(b"\xa5" * page)


@pytest.mark.requirement("GMP-01")
def test_audit_verify_reports_a_damaged_file_instead_of_crashing(cli, _demo_templates, tmp_path):
    path = tmp_path / "damaged.db"
    shutil.copy(_demo_templates["sqlite"], path)
    damage_the_audit_table(path)
    result = cli("--db", f"sqlite:///{path}", "audit", "verify")
    assert result.code == 1, result
    assert result.err.startswith("AUDIT TRAIL BROKEN: the database file is damaged (SQLite")
    assert "restore the last verified backup" in result.err and no_sql(result.err)


def damage_an_index(path: Path, name: str = "ix_batch_code") -> None:
    """Overwrite the root page of one index: every table still reads, the file is damaged."""
    with sqlite3.connect(path) as connection:
        page = connection.execute("PRAGMA page_size").fetchone()[0]
        (root,) = connection.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = ?", (name,)
        ).fetchone()
    connection.close()
    with open(path, "r+b") as handle:
        handle.seek((root - 1) * page)
        handle.write(b"\xa5" * page)


@pytest.mark.requirement("GMP-01")
def test_audit_verify_reports_a_damaged_index_that_no_table_read_meets(
    cli, _demo_templates, tmp_path
):
    # a damaged index answers look-ups wrongly (a duplicate batch code passes its check)
    # while the entries and records it does not hold read as intact
    path = tmp_path / "damaged-index.db"
    shutil.copy(_demo_templates["sqlite"], path)
    damage_an_index(path)
    result = cli("--db", f"sqlite:///{path}", "audit", "verify")
    assert result.code == 1, result
    assert result.err.startswith("AUDIT TRAIL BROKEN: the database file is damaged (SQLite")
    assert "restore the last verified backup" in result.err and no_sql(result.err)


def run(args: list[str], *, password: str = "", read_only: Path | None = None):
    """``cellbatch ARGS`` in its own process; with ``read_only``, that folder is mounted
    read-only for it (a private mount namespace: read-only media, as seen by SQLite)."""
    command = [*CELLBATCH, *args]
    if read_only is not None:
        command = [
            "unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
            'mount --bind -o ro "$0" "$0" && exec "$@"', str(read_only), *command,
        ]  # fmt: skip
    return subprocess.run(
        command, cwd=REPO, input=password, capture_output=True, text=True, env={**os.environ}
    )


@pytest.mark.requirement("GMP-04")
def test_a_read_only_database_reads_and_refuses_every_write_with_a_message(admin_db, tmp_path):
    """SQLite on read-only media (an archived WAL copy) could not even be read; PostgreSQL in
    read-only mode or a standby gave exit 70 with the SQL for every write, even a wrong password.
    """
    url, folder = admin_db.url, None
    admin_db.dispose()
    if admin_db.backend == "sqlite":
        folder = tmp_path / "archive"
        folder.mkdir()
        shutil.move(url.removeprefix("sqlite:///"), folder / "archived.db")
        url = f"sqlite:///{folder / 'archived.db'}"
        with sqlite3.connect(folder / "archived.db") as connection:
            assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        connection.close()
    else:
        name = url.rpartition("/")[2]
        with _pg_admin() as connection:
            connection.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    verified = run(["--db", url, "audit", "verify"], read_only=folder)
    assert verified.returncode == 0, verified.stderr
    assert "audit trail intact" in verified.stdout
    add = ["--db", url, "user", "add", "tech9", "--name", "T Nine", "--role", "technician"]
    refused = run(
        [*add, "--user", "admin", "--password-stdin"],
        password=f"{ADMIN_PASSWORD}\n",
        read_only=folder,
    )
    assert refused.returncode == 8, refused.stderr
    assert "read-only" in refused.stderr and no_sql(refused.stderr)
    wrong = run([*add, "--user", "admin", "--password-stdin"], password="wrong\n", read_only=folder)
    if folder is None:  # a primary made read-only is no archive: every log-in is refused alike
        assert refused.returncode == wrong.returncode == 8, wrong.stderr
        assert "PGOPTIONS" in wrong.stderr and refused.stderr == wrong.stderr
        return
    assert wrong.returncode == 6, wrong.stderr
    assert wrong.stderr.startswith("error: user ID or password wrong (after 5 failed attempts")
    assert "could not be recorded: the database is read-only" in wrong.stderr
    shown = run(
        ["--db", url, "batch", "list", "--user", "admin", "--password-stdin"],
        password=f"{ADMIN_PASSWORD}\n",
        read_only=folder,
    )
    assert shown.returncode == 0 and "batch" in shown.stdout, shown.stderr
    # showing the audit trail is recorded: a read-only copy shows it and says it was not
    # recorded (a PostgreSQL primary refusing writes refused every log-in above)
    printed = run(
        ["--db", url, "audit", "show", "--json", "--user", "admin", "--password-stdin"],
        password=f"{ADMIN_PASSWORD}\n",
        read_only=folder,
    )
    assert printed.returncode == 0, printed.stderr
    assert "note: not recorded in the audit trail: the database is a read-only copy" in (
        printed.stderr
    )
    assert sorted(p.name for p in folder.iterdir()) == ["archived.db"]
