"""The security policy is a controlled record: in the database, changed only by an admin's
signature, audited, with floors no one goes below; a user's environment changes none of it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from cellbatch.domain.errors import AuthenticationFailed, InvalidInput, PermissionDenied
from cellbatch.domain.security_policy import SCRYPT_N_FLOOR
from cellbatch.services import passwords
from cellbatch.services.auth import authenticate
from cellbatch.services.commands.security_policy import change_policy
from cellbatch.services.commands.users import add_user, change_password
from cellbatch.services.queries.audit import list_entries, verify_trail
from cellbatch.services.queries.security_policy import policy_history
from cellbatch.services.queries.users import list_users
from cellbatch.services.security_policy import current_policy, idle_lock_seconds
from cellbatch.services.trusted_time import told_time
from tests.conftest import ADMIN_PASSWORD

GMP26 = pytest.mark.requirement("GMP-26")

HOSTILE_ENVIRONMENT = {
    "CELLBATCH_MAX_FAILED_ATTEMPTS": "1000000",
    "CELLBATCH_MIN_PASSWORD_LENGTH": "1",
    "CELLBATCH_PASSWORD_MAX_AGE_DAYS": "0",
    "CELLBATCH_SCRYPT_N": "2",
    "CELLBATCH_IDLE_LOCK_SECONDS": "99999999",
}


@pytest.fixture
def admin(admin_db):
    return authenticate(admin_db, "admin", ADMIN_PASSWORD)


@GMP26
def test_hostile_environment_changes_neither_lockout_nor_password_rules_nor_hash_cost(
    admin_db, admin, monkeypatch
):
    for name, value in HOSTILE_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(InvalidInput, match="password: expected at least 12 characters, got 1"):
        add_user(admin_db, admin, "tech9", "Tara Nine", "technician", password="x")
    monkeypatch.setattr(passwords, "TEST_SCRYPT_N", None)  # a real hash, at the policy's cost
    add_user(admin_db, admin, "tech1", "Tess Tech", "technician", password="tech1-password")
    monkeypatch.setattr(passwords, "TEST_SCRYPT_N", 1024)
    stored = _hash_of(admin_db, "tech1")
    assert passwords.cost_of(stored) == SCRYPT_N_FLOOR == 2**17
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            authenticate(admin_db, "tech1", "wrong password")
    assert next(u.locked for u in list_users(admin_db) if u.username == "tech1")
    assert idle_lock_seconds(admin_db) == 600


@GMP26
def test_a_hostile_environment_cannot_switch_off_expiry_the_policy_sets(
    admin_db, admin, monkeypatch
):
    with told_time(datetime(2020, 1, 1, tzinfo=UTC)):  # a password set in 2020
        add_user(admin_db, admin, "tech1", "Tess Tech", "technician", password="tech1-password")
    change_policy(admin_db, "admin", ADMIN_PASSWORD, password_max_age_days=30, reason="SOP IT-4")
    monkeypatch.setenv("CELLBATCH_PASSWORD_MAX_AGE_DAYS", "0")
    with pytest.raises(AuthenticationFailed, match="older than 30 days"):
        authenticate(admin_db, "tech1", "tech1-password")


@GMP26
def test_the_policy_changes_only_by_an_admins_signature_and_is_audited(admin_db, admin):
    add_user(admin_db, admin, "tech1", "Tess Tech", "technician", password="tech1-password")
    with pytest.raises(PermissionDenied, match="may not change the security policy"):
        change_policy(admin_db, "tech1", "tech1-password", min_password_length=16, reason="x")
    with pytest.raises(AuthenticationFailed, match="user ID or password wrong"):
        change_policy(admin_db, "admin", "not-the-password", min_password_length=16, reason="x")
    with pytest.raises(InvalidInput, match="--reason"):
        change_policy(admin_db, "admin", ADMIN_PASSWORD, min_password_length=16, reason=" ")
    assert [v.version for v in policy_history(admin_db)] == [1]

    done = change_policy(
        admin_db,
        "admin",
        ADMIN_PASSWORD,
        min_password_length=16,
        max_failed_attempts=3,
        reason="risk assessment RA-12",
    )
    assert (done.version, done.signed_by, done.username) == (2, "Ada Admin", "admin")
    policy = current_policy(admin_db)
    assert (policy.min_password_length, policy.max_failed_attempts) == (16, 3)
    assert policy.scrypt_n == 2**17 and policy.idle_lock_seconds == 600  # unchanged values stay
    entry = list_entries(admin_db, entity="security_policy", entity_id="2")[0]
    assert entry.username == "admin" and "risk assessment RA-12" in entry.reason
    assert '"min_password_length":16' in entry.new_value
    first = policy_history(admin_db)[0]
    assert (first.version, first.username, first.policy.min_password_length) == (1, None, 12)
    with pytest.raises(InvalidInput, match="new password: expected at least 16 characters"):
        change_password(admin_db, "tech1", "tech1-password", "fifteen-chars-1")
    assert verify_trail(admin_db).ok


@GMP26
@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"min_password_length": 11}, "--min-password-length: expected 12 to 128 characters"),
        ({"max_failed_attempts": 0}, "--max-failed-attempts: expected 1 to 10"),
        ({"max_failed_attempts": 11}, "--max-failed-attempts: expected 1 to 10"),
        ({"scrypt_n": 2**16}, "--scrypt-n: expected 131072 to 1048576"),
        ({"scrypt_n": 2**17 + 2}, "--scrypt-n: expected a power of two"),
        ({"password_max_age_days": -1}, "--password-max-age-days: expected 0 to 365"),
        ({"idle_lock_seconds": 0}, "--idle-lock-seconds: expected 60 to 900 seconds"),
        ({"idle_lock_seconds": 3600}, "--idle-lock-seconds: expected 60 to 900 seconds"),
    ],
)
def test_the_floors_are_rules_no_signature_lowers(admin_db, values, says):
    with pytest.raises(InvalidInput, match=says):
        change_policy(admin_db, "admin", ADMIN_PASSWORD, reason="try", **values)
    assert [v.version for v in policy_history(admin_db)] == [1]


@GMP26
@pytest.mark.requirement("GMP-22")
def test_the_environment_may_shorten_the_idle_lock_never_lengthen_or_disable_it(
    admin_db, monkeypatch
):
    for asked, got in (("30", 30), ("99999", 600), ("0", 600), ("-5", 600), ("soon", 600)):
        monkeypatch.setenv("CELLBATCH_IDLE_LOCK_SECONDS", asked)
        assert idle_lock_seconds(admin_db) == got, asked
    change_policy(admin_db, "admin", ADMIN_PASSWORD, idle_lock_seconds=300, reason="open lab")
    assert idle_lock_seconds(admin_db) == 300
    monkeypatch.setenv("CELLBATCH_IDLE_LOCK_SECONDS", "120")
    assert idle_lock_seconds(admin_db) == 120


@GMP26
def test_a_policy_row_edited_in_the_database_is_not_applied(admin_db, admin):
    with admin_db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE security_policy SET max_failed_attempts = 1000")
    assert current_policy(admin_db).max_failed_attempts == 5
    assert any("security_policy 1 was edited" in p for p in verify_trail(admin_db).problems)


def test_a_password_hashed_at_a_lower_cost_is_raised_to_the_policy_at_log_in(
    admin_db, admin, monkeypatch
):
    add_user(admin_db, admin, "tech1", "Tess Tech", "technician", password="tech1-password")
    assert passwords.cost_of(_hash_of(admin_db, "tech1")) == 1024
    monkeypatch.setattr(passwords, "TEST_SCRYPT_N", 2048)  # as if the policy's cost rose
    authenticate(admin_db, "tech1", "tech1-password")
    assert passwords.cost_of(_hash_of(admin_db, "tech1")) == 2048
    assert list_entries(admin_db, entity="app_user", entity_id="2")[-1].action == "password_rehash"
    assert authenticate(admin_db, "tech1", "tech1-password").username == "tech1"
    assert verify_trail(admin_db).ok


def test_policy_commands_on_the_command_line(cli, admin_db):
    url = admin_db.url
    shown = cli(
        "--db",
        url,
        "policy",
        "show",
        "--user",
        "admin",
        "--password-stdin",
        input=f"{ADMIN_PASSWORD}\n",
    )
    assert shown.code == 0, shown.err
    assert "security policy version 1" in shown.out and "min password length: 12" in shown.out
    refused = cli(
        "--db",
        url,
        "policy",
        "set",
        "--user",
        "admin",
        "--password-stdin",
        "--min-password-length",
        "8",
        "--reason",
        "easier",
        input=f"{ADMIN_PASSWORD}\n",
    )
    assert refused.code == 2 and "--min-password-length: expected 12 to 128" in refused.err
    done = cli(
        "--db",
        url,
        "policy",
        "set",
        "--user",
        "admin",
        "--password-stdin",
        "--max-failed-attempts",
        "3",
        "--reason",
        "audit finding 7",
        input=f"{ADMIN_PASSWORD}\n",
    )
    assert done.code == 0 and "security policy version 2 in force" in done.out, done.err
    history = cli(
        "--db",
        url,
        "policy",
        "history",
        "--user",
        "admin",
        "--password-stdin",
        "--json",
        input=f"{ADMIN_PASSWORD}\n",
    )
    versions = json.loads(history.out)
    assert [(v["version"], v["max_failed_attempts"]) for v in versions] == [(1, 5), (2, 3)]


def _hash_of(db, username: str) -> str:
    with db.engine.connect() as conn:
        return conn.execute(
            text("SELECT password_hash FROM app_user WHERE username = :u"), {"u": username}
        ).scalar_one()


@GMP26
def test_an_edited_version_falls_back_to_the_newest_valid_one_and_policy_show_says_so(
    admin_db, admin, cli
):
    """v3 (3 attempts, 20 days) edited in the database: the log-in used to apply the default
    (5 attempts, no expiry) while ``policy show`` printed v3's edited values. Now v2 (3
    attempts, no expiry) is in force, and ``policy show`` prints it and names v3."""
    change_policy(
        admin_db, "admin", ADMIN_PASSWORD, max_failed_attempts=3, reason="risk assessment RA-12"
    )
    change_policy(admin_db, "admin", ADMIN_PASSWORD, password_max_age_days=20, reason="SOP IT-4")
    with admin_db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE security_policy SET max_failed_attempts = 9 WHERE version = 3")
    in_force = current_policy(admin_db)
    assert (in_force.max_failed_attempts, in_force.password_max_age_days) == (3, 0)  # v2
    add_user(admin_db, admin, "tech1", "Tess Tech", "technician", password="tech1-password")
    for _ in range(3):
        with pytest.raises(AuthenticationFailed, match="after 3 failed attempts"):
            authenticate(admin_db, "tech1", "wrong password")
    assert next(u for u in list_users(admin_db) if u.username == "tech1").locked
    shown = cli("--db", admin_db.url, "policy", "show", user="admin", password=ADMIN_PASSWORD)
    assert shown.code == 0, shown.err
    assert "security policy version 2" in shown.out and "max failed attempts: 3" in shown.out
    assert "max failed attempts: 9" not in shown.out
    assert "version 3 is NOT in force" in shown.err and "edited outside" in shown.err
    assert "audit verify" in shown.err
    as_json = cli(
        "--db", admin_db.url, "policy", "show", "--json", user="admin", password=ADMIN_PASSWORD
    )
    data = json.loads(as_json.out)
    assert data["version"] == 2 and data["max_failed_attempts"] == 3
    assert data["refused"][0]["version"] == 3
