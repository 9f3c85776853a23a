"""Backup and restore under the deployment's accounts (GMP-33 with GMP-25's roles).

PostgreSQL: the nightly backup runs as the application's role (it may read everything, change
no trail); a restore goes into an empty database as its owner, and `init --owner-db` gives the
application's role its rights on the restored records again. SQLite: the unattended backup is
the file owner's (the service account's) alone.
"""

from __future__ import annotations

import os

import pytest

from tests.conftest import PG_URL
from tests.test_backup_restore import read_backup, restore
from tests.test_database_roles import _two_roles

pytestmark = pytest.mark.requirement("GMP-33")


def test_backup_and_restore_under_the_deployment_accounts(empty_db_url, cli, tmp_path):
    if empty_db_url.startswith("sqlite"):
        _unattended_backup_is_the_owners(cli, tmp_path)
        return
    assert PG_URL
    with _two_roles() as (owner_url, app_url), _two_roles() as (new_owner_url, new_app_url):
        made = cli("--db", app_url, "init", "--owner-db", owner_url)
        assert made.code == 0, made.err
        assert cli("--db", app_url, "demo").code == 0
        backup = tmp_path / "nightly.cbk"
        result = cli("--db", app_url, "backup", "-o", str(backup), "--unattended")
        assert result.code == 0, result.err  # pg_dump as the application's role
        work = tmp_path / "work"
        work.mkdir()
        assert read_backup(backup, work).manifest.made_by.startswith("system")
        done = restore(cli, new_owner_url, backup, password="demo-admin-pass")
        assert done.code == 0, done.err
        # the restored tables are the new owner's; the application's role gets its rights
        regranted = cli("--db", new_app_url, "init", "--owner-db", new_owner_url)
        assert regranted.code == 0, regranted.err
        verified = cli("--db", new_app_url, "audit", "verify")
        assert verified.code == 0, verified.err


def _unattended_backup_is_the_owners(cli, tmp_path) -> None:
    """Another OS account than the file's owner may not back up without logging in."""
    from cellbatch.services.commands.users import create_first_admin
    from cellbatch.services.database import init_database

    path = tmp_path / "cellbatch.db"
    db, _ = init_database(f"sqlite:///{path}")
    create_first_admin(db, "admin", "Ada Admin", "admin-password-1")
    db.dispose()
    own = cli("--db", f"sqlite:///{path}", "backup", "-o", str(tmp_path / "own.cbk"),
              "--unattended")  # fmt: skip
    assert own.code == 0, own.err  # the owner's (the service account's) own backup
    if os.geteuid() != 0:
        return  # only root can hand the file to another account (CI runs as root)
    os.chown(path, 65534, 65534)  # nobody's file now
    try:
        result = cli("--db", f"sqlite:///{path}", "backup", "-o", str(tmp_path / "b.cbk"),
                     "--unattended")  # fmt: skip
    finally:
        os.chown(path, os.geteuid(), os.getegid())
    assert result.code == 5 and "service account" in result.err, result
    assert not (tmp_path / "b.cbk").exists()
