"""Accounts: roles, unique IDs, slow hashes, lockout, deactivation, one-time passwords."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from cellbatch.domain.errors import (
    AuthenticationFailed,
    InvalidInput,
    PermissionDenied,
    RuleViolation,
)
from cellbatch.services.auth import authenticate
from cellbatch.services.commands.users import add_user, change_password, set_active, unlock
from cellbatch.services.queries.audit import list_entries
from cellbatch.services.queries.users import list_users
from cellbatch.services.trusted_time import told_time
from tests.conftest import ADMIN_PASSWORD


@pytest.fixture
def admin(admin_db):
    return authenticate(admin_db, "admin", ADMIN_PASSWORD)


def test_password_is_stored_as_a_slow_salted_hash_never_in_clear(admin_db):
    with admin_db.engine.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM app_user")).scalar_one()
    assert stored.startswith("scrypt$") and ADMIN_PASSWORD not in stored
    dump = " ".join(str(e.to_dict()) for e in list_entries(admin_db))
    assert ADMIN_PASSWORD not in dump and stored not in dump


@pytest.mark.requirement("GMP-15")
def test_user_ids_are_unique(admin_db, admin):
    from cellbatch.services.queries.users import list_users

    add_user(admin_db, admin, "tech1", "Tess Tech", "technician")
    with pytest.raises(RuleViolation, match="user ID 'tech1' is taken"):
        add_user(admin_db, admin, "tech1", "Another Tess", "technician")
    with pytest.raises(RuleViolation, match="user ID 'TECH1' is taken \\('tech1'\\)"):
        add_user(admin_db, admin, "TECH1", "Tom Tech", "technician")
    with pytest.raises(
        RuleViolation, match="'tech1' already signs as 'Tess Tech', which reads like 'tess tech'"
    ):
        add_user(admin_db, admin, "tech2", "tess tech", "qa")
    with pytest.raises(InvalidInput, match="--name: expected .* printed full name on one line"):
        add_user(admin_db, admin, "tech3", "Bob\nQA Officer", "qa")
    with pytest.raises(InvalidInput, match="--name: .* control character U\\+001B"):
        add_user(admin_db, admin, "tech3", "Bob\x1b[2J", "qa")
    assert [u.username for u in list_users(admin_db)] == ["admin", "tech1"]


@pytest.mark.requirement("GMP-04")
def test_only_an_admin_adds_users(admin_db, admin):
    add_user(admin_db, admin, "tech1", "Tess Tech", "technician", password="tech1-password")
    tech = authenticate(admin_db, "tech1", "tech1-password")
    with pytest.raises(PermissionDenied, match="needs role admin"):
        add_user(admin_db, tech, "tech2", "Tod Tech", "technician")


def test_bad_role_is_refused_naming_the_field(admin_db, admin):
    with pytest.raises(InvalidInput, match="role: expected one of technician"):
        add_user(admin_db, admin, "x1", "X", "boss")


@pytest.mark.requirement("GMP-16")
def test_one_time_password_must_be_changed_before_first_use(admin_db, admin):
    _view, initial = add_user(admin_db, admin, "tech1", "Tess Tech", "technician")
    with pytest.raises(AuthenticationFailed, match="one-time password"):
        authenticate(admin_db, "tech1", initial)
    change_password(admin_db, "tech1", initial, "a-new-password-1")
    assert authenticate(admin_db, "tech1", "a-new-password-1").role == "technician"


@pytest.mark.requirement("GMP-16")
def test_password_minimum_length(admin_db, admin):
    _view, initial = add_user(admin_db, admin, "tech1", "Tess Tech", "technician")
    with pytest.raises(InvalidInput, match="new password: expected at least 12 characters, got 11"):
        change_password(admin_db, "tech1", initial, "eleven-char")
    change_password(admin_db, "tech1", initial, "twelve-chars")


@pytest.mark.requirement("GMP-16")
def test_password_ageing_when_configured(admin_db, admin):
    from cellbatch.services.commands.security_policy import change_policy

    with told_time(datetime(2020, 1, 1, tzinfo=UTC)):  # a password set in 2020
        add_user(admin_db, admin, "tech1", "Tess Tech", "technician", password="tech1-password")
    assert authenticate(admin_db, "tech1", "tech1-password")  # no expiry by default
    change_policy(
        admin_db, "admin", ADMIN_PASSWORD, password_max_age_days=90, reason="site SOP IT-004"
    )
    with pytest.raises(AuthenticationFailed, match="older than 90 days: change it"):
        authenticate(admin_db, "tech1", "tech1-password")
    change_password(admin_db, "tech1", "tech1-password", "tech1-new-password")  # never locked out
    assert authenticate(admin_db, "tech1", "tech1-new-password").username == "tech1"


def _failures(db, username: str) -> int:
    return next(u.failed_attempts for u in list_users(db) if u.username == username)


@pytest.mark.requirement("GMP-17")
def test_five_wrong_passwords_lock_the_account_and_are_audited(admin_db, admin):
    add_user(admin_db, admin, "tech1", "Tess Tech", "technician", password="tech1-password")
    for attempt in range(1, 6):
        with pytest.raises(AuthenticationFailed, match="user ID or password wrong"):
            authenticate(admin_db, "tech1", "wrong")
        assert _failures(admin_db, "tech1") == attempt
    assert next(u.locked for u in list_users(admin_db) if u.username == "tech1")
    with pytest.raises(AuthenticationFailed, match="user ID or password wrong"):
        authenticate(admin_db, "tech1", "tech1-password")  # even the right one
    actions = [e.action for e in list_entries(admin_db, entity="app_user", entity_id="2")]
    assert actions.count("login_failed") == 6 and actions.count("account_locked") == 1
    unlock(admin_db, admin, "tech1", "identity confirmed by phone")
    assert authenticate(admin_db, "tech1", "tech1-password").username == "tech1"


@pytest.mark.requirement("GMP-17")
def test_a_success_resets_the_failure_count(admin_db, admin):
    add_user(admin_db, admin, "tech1", "Tess Tech", "technician", password="tech1-password")
    for _ in range(3):
        with pytest.raises(AuthenticationFailed):
            authenticate(admin_db, "tech1", "wrong")
    assert _failures(admin_db, "tech1") == 3
    authenticate(admin_db, "tech1", "tech1-password")
    assert _failures(admin_db, "tech1") == 0
    with pytest.raises(AuthenticationFailed):
        authenticate(admin_db, "tech1", "wrong")
    assert _failures(admin_db, "tech1") == 1


@pytest.mark.requirement("GMP-15")
@pytest.mark.requirement("GMP-18")
def test_deactivated_user_cannot_log_in_and_is_never_deleted(admin_db, admin):
    add_user(admin_db, admin, "tech1", "Tess Tech", "technician", password="tech1-password")
    set_active(admin_db, admin, "tech1", False, "left the unit")
    with pytest.raises(AuthenticationFailed, match="user ID or password wrong"):
        authenticate(admin_db, "tech1", "tech1-password")
    assert [u.username for u in list_users(admin_db)] == ["admin", "tech1"]
    set_active(admin_db, admin, "tech1", True, "came back")
    assert authenticate(admin_db, "tech1", "tech1-password")


def test_unknown_user_is_refused_without_saying_which_part_was_wrong(admin_db):
    with pytest.raises(AuthenticationFailed, match="user ID or password wrong"):
        authenticate(admin_db, "nobody", "whatever")
