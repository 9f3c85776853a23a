"""Migrations: an empty database of either kind upgrades to head and matches the models."""

from __future__ import annotations

import pytest

from cellbatch.db import migrate
from cellbatch.db.database import Database


def test_upgrade_head_on_empty_database_then_no_difference_from_models(empty_db_url):
    db = Database(empty_db_url, access="create")
    assert migrate.current_revision(db.engine) is None
    assert db.ensure_schema() == "created"
    assert migrate.current_revision(db.engine) == migrate.head_revision()
    assert migrate.pending_changes(db.engine) == []
    assert db.ensure_schema() == "current"
    db.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'x.db'}", access="create")
    assert db.ensure_schema() == "created"
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.dispose()


def test_old_schema_is_not_upgraded_silently(empty_db_url):
    import pytest

    from cellbatch.db.database import DatabaseUnavailable

    db = Database(empty_db_url, access="create")
    db.ensure_schema()
    first = "420f9f62fa82"  # the initial schema
    assert first in migrate.known_revisions() and first != migrate.head_revision()
    with db.engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{first}'")
    with pytest.raises(DatabaseUnavailable, match="run `cellbatch init` to upgrade"):
        db.ensure_schema()
    db.dispose()


UNIQUENESS = "3cb58689a19b"
"""The migration that makes the process's uniqueness rules database constraints."""


def test_uniqueness_migration_upgrades_data_and_refuses_records_that_break_a_rule(demo_db):
    import pytest
    from sqlalchemy import text

    from cellbatch.db.tables import Batch
    from cellbatch.domain.errors import RuleViolation

    migrate.downgrade(demo_db.engine, f"{UNIQUENESS}-1")
    before = migrate.current_revision(demo_db.engine)
    columns = ", ".join(c.name for c in Batch.__table__.columns if c.name not in ("id", "code"))
    with demo_db.engine.begin() as conn:  # what two terminals at once could leave behind
        conn.execute(
            text(
                f"INSERT INTO batch (code, {columns}) SELECT 'EASC-D009', {columns} "
                "FROM batch WHERE code = 'EASC-D001'"
            )
        )
    with pytest.raises(RuleViolation) as refused:
        demo_db.ensure_schema(upgrade=True)
    assert str(refused.value).startswith(
        "cannot upgrade the database: its records break the rule 'one dose batch per "
        "recipient and infusion unless rejected' (recipient RA-P001, infusion 1: dose batch "
        "EASC-D001; recipient RA-P001, infusion 1: dose batch EASC-D009), most likely written "
        "by two terminals at once"
    )
    assert "Nothing was changed" in str(refused.value)
    assert migrate.current_revision(demo_db.engine) == before
    with demo_db.engine.begin() as conn:
        conn.execute(text("UPDATE batch SET status = 'rejected' WHERE code = 'EASC-D009'"))
    assert demo_db.ensure_schema(upgrade=True) == "upgraded"
    assert migrate.current_revision(demo_db.engine) == migrate.head_revision()
    assert migrate.pending_changes(demo_db.engine) == []


@pytest.mark.requirement("GMP-26")
def test_an_existing_database_gets_the_default_security_policy_audited(empty_db_url):
    from cellbatch.services.auth import authenticate
    from cellbatch.services.passwords import hash_password
    from cellbatch.services.queries.audit import list_entries, verify_trail
    from cellbatch.services.queries.security_policy import policy_history

    db = Database(empty_db_url, access="create")
    from alembic import command

    with db.engine.begin() as connection:  # the schema before the policy was a record
        command.upgrade(migrate._config(connection), "30841c3e26a3")
    with db.engine.begin() as connection:  # an account made by that version, short password
        _legacy_user(connection, hash_password("old-pass", 1024))
    assert db.ensure_schema(upgrade=True) == "upgraded"
    [version] = policy_history(db)
    assert (version.version, version.username, version.policy.min_password_length) == (1, None, 12)
    policy, seal = list_entries(db)[-2:]
    assert (policy.seq, policy.username, policy.entity, policy.action) == (
        2,
        "system",
        "security_policy",
        "create",
    )
    assert (seal.seq, seal.entity, seal.action) == (3, "audit_seal", "seal")  # then sealed
    assert verify_trail(db).ok
    assert authenticate(db, "admin", "old-pass").username == "admin"  # set before: still valid
    db.dispose()


def _legacy_user(connection, password_hash: str) -> None:
    """An admin account and its (unkeyed) audit entry, as a program before the policy wrote it."""
    import warnings
    from datetime import UTC, datetime

    import sqlalchemy as sa

    from cellbatch.db.migration_audit import audit_created_row

    now = datetime.now(UTC)
    with warnings.catch_warnings():  # SQLite cannot reflect the expression index
        warnings.simplefilter("ignore")
        table = sa.Table("app_user", sa.MetaData(), autoload_with=connection)
    row_id = connection.execute(
        sa.insert(table)
        .values(
            username="admin",
            full_name="Ada Admin",
            role="admin",
            password_hash=password_hash,
            active=True,
            must_change_password=False,
            failed_attempts=0,
            locked=False,
            password_changed_at=now,
            created_at=now,
        )
        .returning(table.c.id)
    ).scalar_one()
    audit_created_row(connection, table, row_id, at=now, reason="first administrator at set-up")
