"""Cheap start (issue 15): what a command loads and asks before it does its work.

The times themselves are measured by ``scripts/bench_startup.py``, not here: these tests
hold the causes (Alembic on every command, Typer before the terminal UI, a schema check of
several queries) so they cannot come back unnoticed.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from cellbatch.cli.entry import UiRequest, ui_request
from cellbatch.db import migrate, schema_head
from cellbatch.services.database import open_database
from tests.conftest import REPO


def python(code: str) -> str:
    """Standard output of ``code`` run by a fresh interpreter in the repository."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    ).stdout


def test_the_schema_head_the_package_knows_is_alembics_head():
    from alembic.script import ScriptDirectory

    alembic_head = ScriptDirectory.from_config(migrate._config()).get_current_head()
    assert schema_head.SCHEMA_HEAD == alembic_head, (
        f"set SCHEMA_HEAD = {alembic_head!r} in cellbatch/db/schema_head.py"
    )
    assert migrate.head_revision() == alembic_head


def test_a_stale_schema_head_stops_every_migration_with_what_to_write(monkeypatch, tmp_path):
    monkeypatch.setattr(migrate, "SCHEMA_HEAD", "0ld0ld0ld0ld")
    with pytest.raises(migrate.SchemaHeadDrift, match=r'set SCHEMA_HEAD = "[0-9a-f]{12}"'):
        migrate.head_revision()
    with pytest.raises(migrate.SchemaHeadDrift):
        migrate.upgrade(f"sqlite:///{tmp_path / 'new.db'}")
    # the developer tool that writes a migration writes the head with it
    copy = tmp_path / "schema_head.py"
    copy.write_text(migrate.SCHEMA_HEAD_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(migrate, "SCHEMA_HEAD_FILE", copy)
    migrate.write_schema_head("abcdef123456")
    namespace: dict[str, str] = {}
    exec(copy.read_text(encoding="utf-8"), namespace)
    assert namespace["SCHEMA_HEAD"] == "abcdef123456"


def test_opening_a_current_database_costs_one_query(db_url):
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        if statement != "BEGIN":  # SQLite's transaction, begun by the program itself
            statements.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        for read_only in (True, False):
            opened = open_database(db_url, read_only=read_only)
            opened.dispose()
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    assert len(statements) == 2, statements
    assert all(s.startswith("SELECT version_num FROM alembic_version") for s in statements)


def test_a_database_with_the_head_revision_but_not_cellbatchs_tables_is_still_refused(
    cli, tmp_path
):
    import sqlite3

    path = tmp_path / "odd.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32))")
        conn.execute(f"INSERT INTO alembic_version VALUES ('{schema_head.SCHEMA_HEAD}')")
        conn.execute("CREATE TABLE app_user (id INTEGER)")
    result = cli("--db", f"sqlite:///{path}", "batch", "list", user="tech1")
    assert result.code == 2 and "is not a cellbatch database" in result.err, result


def test_read_commands_never_load_alembic(demo_db):
    login = ["--user", "qa1", "--password-stdin"]
    runs = [
        ["batch", "list", *login],
        ["batch", "show", "EASC-B001", *login],
        ["sop", "list", *login],
        ["audit", "show", "--limit", "3", *login],
        ["audit", "verify"],
    ]
    code = (
        "import io, sys\n"
        "from cellbatch.cli.app import main\n"
        "from cellbatch.services import passwords\n"
        "passwords.TEST_SCRYPT_N = 1024\n"
        f"for args in {runs!r}:\n"
        "    sys.stdin = io.StringIO('demo-qa1-pass\\n')\n"
        "    try:\n"
        f"        main(['--db', {demo_db.url!r}, *args])\n"
        "    except SystemExit as exc:\n"
        "        assert not exc.code, (args, exc.code)\n"
        "heavy = ('alembic', 'textual', 'reportlab')\n"
        "print('LOADED', sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = python(code)
    assert "EASC-B001" in out and "LOADED []" in out, out[-500:]


@pytest.mark.parametrize(
    ("args", "request_"),
    [
        ([], UiRequest(None)),
        (["tui"], UiRequest(None)),
        (["--db", "sqlite:///a.db"], UiRequest("sqlite:///a.db")),
        (["--db=sqlite:///a.db", "tui"], UiRequest("sqlite:///a.db")),
        (["tui", "--db", "sqlite:///a.db"], UiRequest("sqlite:///a.db")),
        (["--help"], None),
        (["tui", "--help"], None),
        (["batch", "list"], None),
        (["--db"], None),
        (["--db", "--help"], None),
        (["--db", "x.db", "--db", "y.db"], None),
        (["--db", "\udcff"], None),
        (["tui", "tui"], None),
    ],
)
def test_only_the_exact_ui_forms_skip_the_command_line(args, request_):
    assert ui_request(args) == request_


def test_cellbatch_alone_opens_the_ui_without_loading_the_command_line():
    code = (
        "import sys\n"
        "import cellbatch.tui.app as tui\n"
        "opened = []\n"
        "class Fake:\n"
        "    def __init__(self, url): self.url = url\n"
        "    def run(self): opened.append(self.url)\n"
        "tui.build_app = lambda url=None, **kw: Fake(url)\n"
        "from cellbatch.cli.entry import main\n"
        "main([]); main(['tui', '--db', 'sqlite:///x.db'])\n"
        "print(opened, sorted(m for m in ('typer', 'sqlalchemy', 'alembic') if m in sys.modules))\n"
    )
    assert python(code).strip() == "[None, 'sqlite:///x.db'] []"


def test_the_log_in_screen_shows_before_the_database_is_opened(demo_db, monkeypatch):
    """Issue 15: the UI draws its log-in screen first and opens the database in a worker.

    What is on screen is noted at the moment the database is opened, so the test does not
    depend on how fast this machine paints or how busy it is.
    """
    import asyncio

    import cellbatch.services.database as database
    from cellbatch.tui.app import build_app

    real_open = database.open_database
    screens_when_opened: list[str] = []
    app = build_app(demo_db.url, idle_lock_seconds=3600)

    def noting_open(*args, **kwargs):
        screens_when_opened.append(type(app.screen).__name__)
        return real_open(*args, **kwargs)

    monkeypatch.setattr(database, "open_database", noting_open)

    async def start() -> tuple[str, bool]:
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(600):  # the worker opens it behind the screen
                if app._db is not None:
                    break
                await pilot.pause(0.05)
            return type(app.screen).__name__, app._db is not None

    assert asyncio.run(start()) == ("LoginScreen", True)
    assert screens_when_opened == ["LoginScreen"]


@pytest.mark.parametrize(
    ("args", "built"),
    [
        (["batch", "list", "-u", "qa1"], ["batch"]),
        (["--db", "sqlite:///x.db", "batch", "list"], ["batch"]),
        (["--db=sqlite:///x.db", "audit", "verify"], ["audit"]),
        (["init", "--admin", "a"], ["init"]),
        (["freeze", "--help"], ["freeze"]),  # a hidden earlier name is a command too
    ],
)
def test_a_command_builds_only_its_own_group(args, built):
    """Typer reads every command's signature to build the tree: a command builds its group."""
    import typer

    from cellbatch.cli.app import tree_for

    tree = typer.main.get_command(tree_for(args))
    assert list(tree.commands) == built


@pytest.mark.parametrize("args", [[], ["--help"], ["--db", "x"], ["btach", "list"]])
def test_the_root_and_an_unknown_name_build_the_whole_tree(args):
    from cellbatch.cli.app import app, tree_for

    assert tree_for(args) is app


def test_a_group_built_alone_reads_as_in_the_whole_tree(cli):
    """The group's help and a mistyped command in it read the same either way."""
    import typer

    from cellbatch.cli.app import app

    whole = typer.main.get_command(app).commands["batch"]
    helped = cli("batch", "--help")
    assert helped.code == 0
    assert all(name in helped.out for name in whole.commands)
    wrong = cli("batch", "lsit")
    assert wrong.code == 2 and "lsit" in wrong.err
    top = cli("btach", "list")
    assert top.code == 2 and "btach" in top.err
