"""The foundation's command line, run as a user runs it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from tests.conftest import REPO

INIT_ADMIN = ("init", "--admin", "admin", "--name", "Ada Admin", "--password-stdin")


@pytest.mark.requirement("GMP-01")
def test_init_then_verify_then_tamper_with_sqlite_shell(cli, tmp_path):
    url = f"sqlite:///{tmp_path / 'cb.db'}"
    r = cli("--db", url, *INIT_ADMIN, input="admin-pass-123\n")
    assert r.code == 0, r.err
    assert "created admin admin" in r.out
    assert cli("--db", url, "audit", "verify").code == 0
    with sqlite3.connect(tmp_path / "cb.db") as conn:
        conn.execute("UPDATE app_user SET role = 'qa' WHERE username = 'admin'")
    r = cli("--db", url, "audit", "verify")
    assert r.code == 1
    assert "app_user 1 was edited outside the program" in r.err


def test_user_add_shows_a_one_time_password_once(cli, db_url):
    cli("--db", db_url, *INIT_ADMIN, input="admin-pass-123\n")
    r = cli(
        "--db",
        db_url,
        "user",
        "add",
        "tech1",
        "--name",
        "Tess Tech",
        "--role",
        "technician",
        "--user",
        "admin",
        "--password-stdin",
        input="admin-pass-123\n",
    )
    assert r.code == 0, r.err
    initial = r.out.strip().rsplit(" ", 1)[-1]
    r = cli(
        "--db",
        db_url,
        "passwd",
        "--user",
        "tech1",
        "--password-stdin",
        input=f"{initial}\nmy-own-password\n",
    )
    assert r.code == 0, r.err
    listing = cli(
        "--db", db_url, "user", "list", "--json", user="tech1", password="my-own-password"
    )
    listing = json.loads(listing.out)
    assert {u["username"]: u["must_change_password"] for u in listing} == {
        "admin": False,
        "tech1": False,
    }


@pytest.mark.requirement("GMP-04")
def test_write_with_wrong_password_is_refused_and_changes_nothing(cli, db_url):
    cli("--db", db_url, *INIT_ADMIN, input="admin-pass-123\n")
    r = cli(
        "--db",
        db_url,
        "user",
        "add",
        "tech1",
        "--name",
        "Tess",
        "--role",
        "technician",
        "--user",
        "admin",
        "--password-stdin",
        input="wrong-password\n",
    )
    assert r.code == 6
    assert r.err.startswith("error: user ID or password wrong")
    assert "Traceback" not in r.err
    users = cli("--db", db_url, "user", "list", "--json", user="admin", password="admin-pass-123")
    users = json.loads(users.out)
    assert [u["username"] for u in users] == ["admin"]


def test_without_a_terminal_the_password_must_come_from_stdin(cli, db_url):
    cli("--db", db_url, *INIT_ADMIN, input="admin-pass-123\n")
    r = cli("--db", db_url, "user", "add", "t", "--name", "T", "--role", "qa", "--user", "admin")
    assert r.code == 2 and "--password-stdin" in r.err


def test_bad_database_url_is_a_message_not_a_traceback(cli):
    r = cli("--db", "mysql://x/y", "audit", "verify")
    assert r.code == 2 and "unsupported database" in r.err and "Traceback" not in r.err


def test_audit_show_json_lists_entries(cli, db_url):
    cli("--db", db_url, *INIT_ADMIN, input="admin-pass-123\n")
    shown = cli("--db", db_url, "audit", "show", "--json", user="admin", password="admin-pass-123")
    entries = json.loads(shown.out)
    assert [(e["action"], e["entity"], e["username"]) for e in entries] == [
        ("create", "security_policy", "system"),  # the default policy, with the schema
        ("seal", "audit_seal", "system"),  # the trail sealed under the site key
        ("create", "app_user", "system"),
    ]
    assert entries[1]["at"].endswith("Z")


def test_default_database_is_created_in_the_data_folder_on_first_use(cli, tmp_path):
    r = cli("init")
    assert r.code == 0, r.err
    assert (tmp_path / "data" / "cellbatch.db").exists()
    # a mistyped --db folder is said, not silently made into a new empty database
    missing = tmp_path / "no-such-folder" / "x.db"
    r = cli("--db", f"sqlite:///{missing}", "batch", "list", user="admin")
    assert r.code == 2 and f"--db: no database at {missing}" in r.err
    assert not missing.parent.exists()
    r = cli("--db", f"sqlite:///{missing}", "init")
    assert r.code == 2 and f"--db: folder {missing.parent} does not exist" in r.err
    assert not missing.parent.exists()


def test_sop_list_json(cli):
    assert cli(*INIT_ADMIN, input="admin-pass-123\n").code == 0
    sops = json.loads(cli("sop", "list", "--json", user="admin", password="admin-pass-123").out)
    sops = sops["sops"]
    ids = {s["id"] for s in sops}
    assert {"SOP-EASC-EXP", "SOP-EASC-DOSE", "SOP-BMMSC-EXP", "SOP-FUC-BMMSC-DOSE"} <= ids
    assert all(len(s["content_hash"]) == 64 for s in sops)


def test_help_imports_no_textual_reportlab_or_pint():
    code = (
        "import sys\n"
        "sys.argv = ['cellbatch', '--help']\n"
        "from cellbatch.cli.app import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "bad = [m for m in ('textual', 'reportlab', 'pint') if m in sys.modules]\n"
        "print('HEAVY', bad)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ},
        check=True,
    ).stdout
    assert "HEAVY []" in out
    assert "init" in out and "audit" in out


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["batch", "list", "--bogus"], "No such option"),
        (["batch", "frobnicate"], "No such command"),
        (["batch", "show"], "Missing argument"),
    ],
)
def test_a_mistyped_command_is_a_usage_message_with_exit_2(cli, args, says):
    result = cli(*args)
    assert result.code == 2, result
    assert says in result.err
    assert "Traceback" not in result.err and "Please report" not in result.err
