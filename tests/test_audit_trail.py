"""The audit trail: every write audited, hash-chained, and tampering detected."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from cellbatch.services.auth import authenticate
from cellbatch.services.commands.users import add_user
from cellbatch.services.queries.audit import list_entries, verify_trail
from tests.conftest import ADMIN_PASSWORD


@pytest.fixture
def trail_db(admin_db):
    admin = authenticate(admin_db, "admin", ADMIN_PASSWORD)
    add_user(admin_db, admin, "tech1", "Tess Tech", "technician", password="tech1-password")
    add_user(admin_db, admin, "qa1", "Quinn QA", "qa", password="qa1-password-x")
    assert verify_trail(admin_db).ok
    return admin_db


def _sql(db, statement: str, **params) -> None:
    with db.engine.begin() as conn:
        conn.execute(text(statement), params)


@pytest.mark.requirement("GMP-05")
@pytest.mark.requirement("GMP-19")
def test_every_write_is_an_entry_with_user_time_and_values(trail_db):
    entries = list_entries(trail_db)[2:]  # after the default policy and the seal
    assert [e.action for e in entries] == ["create", "create", "create"]
    assert entries[0].username == "system"
    assert entries[1].username == "admin" and entries[1].entity == "app_user"
    assert '"username":"tech1"' in entries[1].new_value
    assert "<redacted>" in entries[1].new_value  # the password hash is never written out
    assert entries[1].at.endswith("Z")


@pytest.mark.requirement("GMP-01")
def test_intact_trail_verifies(trail_db):
    report = verify_trail(trail_db)
    assert report.ok, report.problems
    assert report.entries_checked == 5 and report.rows_checked == 5  # 3 users, policy, seal


@pytest.mark.requirement("GMP-01")
def test_row_edited_behind_the_programs_back_is_named(trail_db):
    _sql(trail_db, "UPDATE app_user SET full_name = 'Eve Intruder' WHERE username = 'tech1'")
    report = verify_trail(trail_db)
    assert not report.ok
    assert report.problems[0].startswith("app_user 2 was edited outside the program")


@pytest.mark.requirement("GMP-01")
def test_role_escalation_behind_the_programs_back_is_detected(trail_db):
    _sql(trail_db, "UPDATE app_user SET role = 'qa' WHERE username = 'tech1'")
    assert "app_user 2 was edited" in verify_trail(trail_db).problems[0]


@pytest.mark.requirement("GMP-01")
def test_audit_entry_edited_is_named(trail_db):
    _sql(trail_db, "UPDATE audit_entry SET username = 'someone' WHERE seq = 3")
    problems = verify_trail(trail_db).problems
    assert problems[0].startswith("audit entry #3 was edited outside the program")


@pytest.mark.requirement("GMP-01")
def test_audit_entry_removed_from_the_middle_is_named(trail_db):
    _sql(trail_db, "DELETE FROM audit_entry WHERE seq = 3")
    problems = verify_trail(trail_db).problems
    assert problems[0].startswith("audit entry #3 is missing")


@pytest.mark.requirement("GMP-01")
def test_last_audit_entry_removed_is_detected(trail_db):
    _sql(trail_db, "DELETE FROM audit_entry WHERE seq = 5")
    problems = verify_trail(trail_db).problems
    assert any("end of the audit trail" in p for p in problems)
    assert any("app_user 3 has no audit entry" in p for p in problems)


@pytest.mark.requirement("GMP-01")
def test_row_inserted_behind_the_programs_back_is_named(trail_db):
    _sql(
        trail_db,
        "INSERT INTO app_user (username, full_name, role, password_hash, active, "
        "must_change_password, failed_attempts, locked, password_changed_at, created_at) "
        "VALUES ('mallory', 'Mallory', 'qa', 'x', true, false, 0, false, :t, :t)",
        t="2026-01-01 00:00:00+00:00",
    )
    assert (
        "app_user 4 has no audit entry: inserted outside the program"
        in (verify_trail(trail_db).problems[0])
    )


@pytest.mark.requirement("GMP-01")
@pytest.mark.requirement("GMP-06")
def test_row_deleted_behind_the_programs_back_is_named(trail_db):
    _sql(trail_db, "DELETE FROM app_user WHERE username = 'qa1'")
    assert verify_trail(trail_db).problems == [
        "app_user 3 was removed outside the program (last audit entry #5)"
    ]


@pytest.mark.requirement("GMP-01")
def test_forged_entry_appended_without_the_chain_is_detected(trail_db):
    _sql(
        trail_db,
        "INSERT INTO audit_entry (seq, at, username, action, entity, entity_id, prev_hash, hash) "
        "VALUES (6, :t, 'admin', 'create', 'app_user', '9', 'x', 'y')",
        t="2026-01-01 00:00:00+00:00",
    )
    problems = verify_trail(trail_db).problems
    assert problems[0].startswith("audit entry #6 does not follow")
