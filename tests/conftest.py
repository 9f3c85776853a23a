"""Shared fixtures: a fresh migrated database per test, on SQLite and PostgreSQL.

Database tests take the ``db`` (or ``db_url``) fixture and run once per backend: SQLite
always, PostgreSQL when ``CELLBATCH_TEST_PG_URL`` names a server (``scripts/test`` starts
a throwaway one). Each test gets its own database, cloned from one migrated template.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from cellbatch.services import passwords

os.environ.pop("CELLBATCH_DATABASE_URL", None)

# Tests need fast hashes, not brute-force cost. The seam is a module constant set here, in
# the test process only: no environment variable or file lowers the cost of a real hash.
passwords.TEST_SCRYPT_N = 1024

PG_URL = os.environ.get("CELLBATCH_TEST_PG_URL")
BACKENDS = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]


def pytest_report_header(config) -> list[str]:
    """Say which databases the suite runs on."""
    where = "SQLite and PostgreSQL" if PG_URL else "SQLite ONLY (CELLBATCH_TEST_PG_URL not set)"
    return [f"cellbatch database backends: {where}"]


@pytest.fixture(scope="session")
def _site_key(tmp_path_factory) -> Path:
    """One site key for the session's template databases (each test gets a copy)."""
    from cellbatch.db.audit_chain_key import create_key

    return create_key(tmp_path_factory.mktemp("site-key") / "cellbatch.key").path


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path, monkeypatch, _site_key):
    """Each test's own data directory, and its own copy of the templates' site key.

    The key and the anchor log lie beside ``tmp_path`` (``tmp_path`` stays the test's own).
    """
    monkeypatch.setenv("CELLBATCH_DATA_DIR", str(tmp_path / "data"))
    keys = site_key_dir(tmp_path)
    keys.mkdir(mode=0o700)
    shutil.copy2(_site_key, keys / "cellbatch.key")
    monkeypatch.setenv("CELLBATCH_KEY_FILE", str(keys / "cellbatch.key"))
    monkeypatch.setenv("CELLBATCH_ANCHOR_LOG", str(keys / "cellbatch.anchors"))


def site_key_dir(tmp_path: Path) -> Path:
    """Where a test's site key and anchor log are (see ``_isolated_data_dir``)."""
    return tmp_path.parent / f"{tmp_path.name}-site-key"


def _pg_admin():
    import psycopg

    return psycopg.connect(
        PG_URL.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
    )


def _pg_url(name: str) -> str:
    base, _, _ = PG_URL.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def _templates(tmp_path_factory, _site_key):
    from cellbatch.db.database import Database

    templates = {}
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = Database(f"sqlite:///{path}", access="create", key_file=_site_key)
    db.ensure_schema()
    db.dispose()
    templates["sqlite"] = path
    if PG_URL:
        name = f"cb_template_{uuid.uuid4().hex[:8]}"
        with _pg_admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        db = Database(_pg_url(name), access="create", key_file=_site_key)
        db.ensure_schema()
        db.dispose()
        templates["postgresql"] = name
    yield templates
    if PG_URL:
        with _pg_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{templates["postgresql"]}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def db_url(request, _templates, tmp_path):
    """URL of a fresh, migrated, empty database of each backend."""
    if request.param == "sqlite":
        path = tmp_path / "cellbatch.db"
        shutil.copy(_templates["sqlite"], path)
        yield f"sqlite:///{path}"
        return
    name = f"cb_test_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{_templates["postgresql"]}"')
    yield _pg_url(name)
    with _pg_admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def _demo_templates(_templates, tmp_path_factory, _site_key):
    """The demo data, loaded once per backend, for tests to clone (with its anchor logs)."""
    from cellbatch.db.database import Database
    from cellbatch.documents.labels import render as render_labels
    from cellbatch.services.demo import load_demo

    templates = {}
    folder = tmp_path_factory.mktemp("demo-template")
    path = folder / "demo.db"
    shutil.copy(_templates["sqlite"], path)
    anchors = folder / "sqlite.anchors"
    db = Database(f"sqlite:///{path}", key_file=_site_key, anchor_log=anchors)
    load_demo(db, render_labels=render_labels)
    db.dispose()
    templates["sqlite"] = path
    templates["sqlite.anchors"] = anchors
    if PG_URL:
        name = f"cb_demo_{uuid.uuid4().hex[:8]}"
        with _pg_admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{_templates["postgresql"]}"')
        anchors = folder / "postgresql.anchors"
        db = Database(_pg_url(name), key_file=_site_key, anchor_log=anchors)
        load_demo(db, render_labels=render_labels)
        db.dispose()
        templates["postgresql"] = name
        templates["postgresql.anchors"] = anchors
    yield templates
    if PG_URL:
        with _pg_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{templates["postgresql"]}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def demo_db(request, _demo_templates, tmp_path):
    """A fresh database holding the demo data (both clinical cases), of each backend."""
    from cellbatch.services.database import open_database

    anchors = _demo_templates[f"{request.param}.anchors"]
    if anchors.exists():  # the demo's releases were anchored
        shutil.copy2(anchors, site_key_dir(tmp_path) / "cellbatch.anchors")
    if request.param == "sqlite":
        path = tmp_path / "demo.db"
        shutil.copy(_demo_templates["sqlite"], path)
        url = f"sqlite:///{path}"
    else:
        name = f"cb_test_{uuid.uuid4().hex[:12]}"
        with _pg_admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{_demo_templates["postgresql"]}"')
        url = _pg_url(name)
    database = open_database(url)
    yield database
    database.dispose()
    if request.param == "postgresql":
        with _pg_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def empty_db_url(request, tmp_path):
    """URL of a database with no tables at all, of each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    name = f"cb_empty_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _pg_url(name)
    with _pg_admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db(db_url):
    """An opened fresh database."""
    from cellbatch.services.database import open_database

    database = open_database(db_url)
    yield database
    database.dispose()


@dataclass
class CliResult:
    """What one command-line run gave."""

    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run ``cellbatch ARGS`` in-process, as a user would, with text on standard input."""
    from cellbatch.cli.app import main

    def run(
        *args: str, input: str = "", user: str | None = None, password: str | None = None
    ) -> CliResult:
        """``user`` logs in (``--user U --password-stdin``; demo password unless given)."""
        if user is not None:
            args = (*args, "--user", user, "--password-stdin")
            input = f"{password or f'demo-{user}-pass'}\n{input}"
        capsys.readouterr()
        monkeypatch.setattr(sys, "stdin", io.StringIO(input))
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        # exit 70 is "unexpected": no test may see one (issue 17: none anywhere in the suite)
        assert code != 70, f"cellbatch {' '.join(args)} crashed: {captured.err}"
        return CliResult(code, captured.out, captured.err)

    return run


ADMIN_PASSWORD = "admin-password-1"


@pytest.fixture
def admin_db(db):
    """A fresh database with its first admin (``admin`` / ADMIN_PASSWORD)."""
    from cellbatch.services.commands.users import create_first_admin

    create_first_admin(db, "admin", "Ada Admin", ADMIN_PASSWORD)
    return db


REPO = Path(__file__).resolve().parent.parent


def pytest_addoption(parser) -> None:
    """``--traceability``: print which tests prove which GMP requirement."""
    parser.addoption(
        "--traceability",
        action="store_true",
        help="print the GMP requirement → test traceability matrix",
    )


def pytest_collection_modifyitems(config, items) -> None:
    """Remember the requirement marks of the collected tests."""
    matrix: dict[str, list[str]] = {}
    for item in items:
        for mark in item.iter_markers("requirement"):
            matrix.setdefault(mark.args[0], []).append(item.nodeid)
    config._cellbatch_matrix = matrix


REQUIREMENTS = REPO / "docs" / "gmp-requirements.md"
"""The GMP requirements with their IDs (a copy of ../shared/REQUIREMENTS.md)."""


def gmp_requirements() -> dict[str, str]:
    """Requirement ID → its text, from the table in docs/gmp-requirements.md."""
    out = {}
    for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].startswith("GMP-"):
            out[cells[0]] = cells[1]
    return out


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Print the traceability matrix when asked for: every requirement, proved or not."""
    if not config.getoption("--traceability"):
        return
    matrix = getattr(config, "_cellbatch_matrix", {})
    terminalreporter.section("GMP requirement traceability")
    known = gmp_requirements()
    for requirement in sorted(set(known) | set(matrix)):
        tests = sorted(set(matrix.get(requirement, [])))
        text = known.get(requirement, "NOT IN docs/gmp-requirements.md")
        status = f"{len(tests)} tests" if tests else "NO TEST in this run"
        terminalreporter.write_line(f"{requirement}: {status} — {text}")
        for nodeid in tests:
            terminalreporter.write_line(f"    {nodeid}")
