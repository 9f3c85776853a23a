"""A hostile tester's attacks on the log-in (issue: Part 11 log-in review, findings 1, 2, 3, 5).

- A unit of work never vouches for a record edited behind the program's back: a failed log-in
  on an edited account no longer launders the edit (and so no account takeover).
- The lockout is decided under the account row's lock, after the hash: a lock that happened
  while the password was being hashed refuses the right password.
- A broken environment (clock settings, site key) refuses right and wrong passwords alike.
- A role the program never wrote is refused cleanly, never a crash.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from cellbatch.db.audit_chain_key import SiteKeyProblem
from cellbatch.db.audit_chain_rows import RecordTampered
from cellbatch.db.failures import DatabaseUnavailable
from cellbatch.domain.errors import AuthenticationFailed, InvalidInput
from cellbatch.domain.trusted_time import TimeSourceUnavailable
from cellbatch.services.auth import authenticate
from cellbatch.services.commands.users import add_user, set_active
from cellbatch.services.queries.audit import list_entries, verify_trail
from cellbatch.services.queries.users import list_users
from tests import races
from tests.conftest import ADMIN_PASSWORD

PASSWORD = "tech1-password"


@pytest.fixture
def accounts(admin_db):
    admin = authenticate(admin_db, "admin", ADMIN_PASSWORD)
    add_user(admin_db, admin, "tech1", "Tess Tech", "technician", password=PASSWORD)
    return admin_db


def _sql(db, statement: str) -> None:
    with db.engine.begin() as connection:
        connection.execute(text(statement))


def _edited(db, table: str, row_id: int) -> bool:
    report = verify_trail(db)
    return any(f"{table} {row_id} was edited outside the program" in p for p in report.problems)


def _user_id(db, username: str) -> int:
    with db.engine.connect() as connection:
        return connection.execute(
            text("SELECT id FROM app_user WHERE username = :u"), {"u": username}
        ).scalar_one()


@pytest.mark.requirement("GMP-25")
def test_a_failed_log_in_does_not_launder_an_edited_account(accounts):
    tech1 = _user_id(accounts, "tech1")
    _sql(accounts, "UPDATE app_user SET role = 'admin' WHERE username = 'tech1'")
    assert _edited(accounts, "app_user", tech1)
    with pytest.raises(RecordTampered) as wrong:
        authenticate(accounts, "tech1", "wrong password")
    assert f"app_user {tech1} was edited outside the program" in str(wrong.value)
    assert "audit verify" in str(wrong.value)
    with pytest.raises(RecordTampered):  # fail closed: the right password does not get in
        authenticate(accounts, "tech1", PASSWORD)
    assert _edited(accounts, "app_user", tech1)  # still named: nothing vouched for the edit
    refusals = [e for e in list_entries(accounts, entity="app_user") if e.action == "login_refused"]
    assert len(refusals) == 2 and all(e.entity_id == str(tech1) for e in refusals)


@pytest.mark.requirement("GMP-25")
def test_a_copied_password_hash_takes_over_no_account(accounts):
    admin = _user_id(accounts, "admin")
    _sql(
        accounts,
        "UPDATE app_user SET password_hash = "
        "(SELECT password_hash FROM app_user WHERE username = 'tech1') WHERE username = 'admin'",
    )
    with pytest.raises(RecordTampered):
        authenticate(accounts, "admin", "one failed attempt")
    with pytest.raises(RecordTampered):
        authenticate(accounts, "admin", PASSWORD)
    assert _edited(accounts, "app_user", admin)


@pytest.mark.requirement("GMP-25")
def test_no_unit_of_work_writes_over_an_edited_record(accounts):
    admin = authenticate(accounts, "admin", ADMIN_PASSWORD)
    tech1 = _user_id(accounts, "tech1")
    _sql(accounts, "UPDATE app_user SET full_name = 'Someone Else' WHERE username = 'tech1'")
    with pytest.raises(RecordTampered) as refused:
        set_active(accounts, admin, "tech1", False, "left the unit")
    assert f"app_user {tech1} was edited outside the program" in str(refused.value)
    assert _edited(accounts, "app_user", tech1)


def test_an_unknown_role_is_refused_as_a_tampered_account_not_a_crash(accounts, cli):
    _sql(accounts, "UPDATE app_user SET role = 'superuser' WHERE username = 'tech1'")
    result = cli(
        "--db", accounts.url, "batch", "list", user="tech1", password=PASSWORD
    )  # the fixture fails on exit 70
    assert result.code == RecordTampered.exit_code
    assert "was edited outside the program" in result.err


def _slow_hash(seconds: float):
    """Make this racer's password check take ``seconds``, as a real scrypt hash does."""
    from cellbatch.services import auth

    real = auth.check_password

    def slow(password: str, stored: str) -> bool:
        time.sleep(seconds)
        return real(password, stored)

    auth.check_password = slow


def _attempt(password: str, delay: float):
    def prepare(db):
        _slow_hash(delay)

        def go():
            try:
                authenticate(db, "tech1", password)
            except AuthenticationFailed as refused:
                return f"refused: {refused}"
            return "logged in"

        return go

    return prepare


@pytest.mark.requirement("GMP-04")
def test_a_lock_during_the_hash_refuses_the_right_password(accounts):
    """11 wrong passwords at once and the right one whose hash ends after them.

    Every racer reads the account (unlocked, no failures) before any failure is counted;
    the right password's hash ends last. It must not get in, and every attempt after the
    5th is recorded as an attempt on a locked account.
    """
    racers = [_attempt("wrong password", 0.3) for _ in range(11)]
    racers.append(_attempt(PASSWORD, 2.0))
    outcomes = races.race(accounts.url, racers)
    values = races.all_win(outcomes)
    assert values[-1].startswith("refused"), values[-1]
    entries = list_entries(accounts, entity="app_user", entity_id=str(_user_id(accounts, "tech1")))
    failed = [e.reason for e in entries if e.action == "login_failed"]
    assert len(failed) == 12, failed
    assert failed[:5] == ["wrong password"] * 5
    assert failed[5:] == ["log-in attempt on a locked account"] * 7
    assert [e.action for e in entries].count("account_locked") == 1
    assert verify_trail(accounts).ok


@pytest.mark.parametrize(
    ("variable", "value", "error"),
    [
        ("CELLBATCH_MAX_CLOCK_SKEW_SECONDS", "abc", InvalidInput),
        ("CELLBATCH_KEY_FILE", "/nonexistent/cellbatch.key", SiteKeyProblem),
        ("CELLBATCH_NTP_SERVER", "127.0.0.1:9", TimeSourceUnavailable),
    ],
)
@pytest.mark.requirement("GMP-26")
def test_a_broken_environment_refuses_right_and_wrong_passwords_alike(
    accounts, monkeypatch, variable, value, error
):
    accounts.dispose()
    from cellbatch.services.database import open_database

    with monkeypatch.context() as environment:
        environment.setenv(variable, value)
        db = open_database(accounts.url)
        answers = []
        for password in ("wrong password", PASSWORD):
            with pytest.raises(error) as refused:
                authenticate(db, "tech1", password)
            answers.append(str(refused.value))
        db.dispose()
    assert answers[0] == answers[1]
    db = open_database(accounts.url)
    assert authenticate(db, "tech1", PASSWORD).username == "tech1"
    db.dispose()


@pytest.mark.requirement("GMP-26")
def test_a_read_only_session_on_a_primary_is_no_archive(accounts, monkeypatch):
    """PostgreSQL: a session made read-only (PGOPTIONS) on a primary refuses every log-in alike.

    It used to answer a wrong password "could not be recorded" (uncounted) and let the right
    one read. On SQLite the variable means nothing: the failure is counted.
    """
    from cellbatch.services.database import open_database

    accounts.dispose()
    with monkeypatch.context() as environment:
        environment.setenv("PGOPTIONS", "-c default_transaction_read_only=on")
        db = open_database(accounts.url, read_only=True)
        if accounts.backend == "sqlite":
            with pytest.raises(AuthenticationFailed) as refused:
                authenticate(db, "tech1", "wrong password")
            assert "could not be recorded" not in str(refused.value)
            assert list_users(db)[-1].failed_attempts == 1
            db.dispose()
            return
        answers = []
        for password in ("wrong password", PASSWORD):
            with pytest.raises(DatabaseUnavailable) as refused:
                authenticate(db, "tech1", password)
            answers.append(str(refused.value))
        db.dispose()
    assert answers[0] == answers[1] and "PGOPTIONS" in answers[0]
