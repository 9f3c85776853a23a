"""Migrations: an empty database of either kind upgrades to head and matches the models."""

from __future__ import annotations

from cellbatch.db import migrate
from cellbatch.db.database import Database


def test_upgrade_head_on_empty_database_then_no_difference_from_models(empty_db_url):
    db = Database(empty_db_url)
    assert migrate.current_revision(db.engine) is None
    assert db.ensure_schema() == "created"
    assert migrate.current_revision(db.engine) == migrate.head_revision()
    assert migrate.pending_changes(db.engine) == []
    assert db.ensure_schema() == "current"
    db.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.dispose()


def test_old_schema_is_not_upgraded_silently(empty_db_url):
    import pytest

    from cellbatch.db.database import DatabaseUnavailable

    db = Database(empty_db_url)
    db.ensure_schema()
    with db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'older'")
    with pytest.raises(DatabaseUnavailable, match="run `cellbatch init` to upgrade"):
        db.ensure_schema()
    db.dispose()
