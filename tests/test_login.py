"""Log-in leaks nothing: one answer at one cost, every attempt audited, no secret stored."""

from __future__ import annotations

import hashlib
import re

import pytest

from cellbatch.domain.errors import AuthenticationFailed, InvalidInput
from cellbatch.services.auth import authenticate
from cellbatch.services.commands.users import add_user, change_password, set_active
from cellbatch.services.queries.audit import list_entries
from cellbatch.services.queries.users import list_users
from tests.conftest import ADMIN_PASSWORD

PASSWORD = "tech1-password"


@pytest.fixture
def accounts(admin_db):
    admin = authenticate(admin_db, "admin", ADMIN_PASSWORD)
    for name, full in (("tech1", "Tess Tech"), ("locked1", "Lou Locked"), ("gone1", "Gil Gone")):
        add_user(admin_db, admin, name, full, "technician", password=PASSWORD)
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            authenticate(admin_db, "locked1", "wrong password")
    set_active(admin_db, admin, "gone1", False, "left the unit")
    return admin_db


def _refusal(db, username: str, password: str) -> str:
    with pytest.raises(AuthenticationFailed) as refused:
        authenticate(db, username, password)
    return str(refused.value)


@pytest.mark.requirement("GMP-04")
def test_one_answer_for_unknown_user_wrong_password_locked_and_deactivated(accounts):
    answers = {
        "unknown user": _refusal(accounts, "nobody", PASSWORD),
        "wrong password": _refusal(accounts, "tech1", "wrong password"),
        "locked, right password": _refusal(accounts, "locked1", PASSWORD),
        "deactivated, right password": _refusal(accounts, "gone1", PASSWORD),
    }
    assert len(set(answers.values())) == 1, answers
    assert answers["unknown user"].startswith("user ID or password wrong")
    assert "nobody" not in answers["unknown user"]


@pytest.mark.requirement("GMP-04")
def test_an_unknown_user_costs_the_same_scrypt_as_a_wrong_password(accounts, monkeypatch):
    costs: list[tuple[int, int, int]] = []
    real = hashlib.scrypt

    def counting(password, *, salt, n, r, p, dklen, maxmem=0):
        costs.append((n, r, p))
        return real(password, salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=maxmem)

    monkeypatch.setattr(hashlib, "scrypt", counting)
    _refusal(accounts, "tech1", "wrong password")
    known = list(costs)
    costs.clear()
    _refusal(accounts, "nobody", "wrong password")
    assert costs == known and len(known) == 1


@pytest.mark.requirement("GMP-17")
def test_attempts_on_a_locked_account_are_audited(accounts):
    before = [e for e in list_entries(accounts, entity="app_user") if e.action == "login_failed"]
    _refusal(accounts, "locked1", PASSWORD)
    _refusal(accounts, "locked1", "a guess")
    after = [e for e in list_entries(accounts, entity="app_user") if e.action == "login_failed"]
    new = after[len(before) :]
    assert [e.reason for e in new] == ["log-in attempt on a locked account"] * 2
    assert {e.entity_id for e in new} == {"3"}  # locked1's account
    assert next(u.locked for u in list_users(accounts) if u.username == "locked1")


@pytest.mark.requirement("GMP-17")
@pytest.mark.parametrize("typed", ["Tr0ub4dor&3 horse", "correct-horse-battery-staple", "nobody"])
def test_a_user_id_that_names_no_account_is_never_stored_as_typed(accounts, typed):
    _refusal(accounts, typed, PASSWORD)
    last = list_entries(accounts)[-1]
    assert (last.action, last.entity, last.entity_id) == ("login_failed", "app_user", "?")
    stored = " ".join(str(v) for e in list_entries(accounts) for v in e.to_dict().values())
    assert typed not in stored


@pytest.mark.requirement("GMP-16")
@pytest.mark.parametrize(
    ("new", "says"),
    [
        (" " * 12, "expected a password, got only blanks"),
        ("\u3000" * 6 + "\t" * 6, "expected a password, got only blanks"),
        ("password1234", "expected a password not on the list of common passwords"),
        ("QWERTY123456", "expected a password not on the list of common passwords"),
        ("1q2w3e4r5t6y", "expected a password not on the list of common passwords"),
        ("123456789012", "expected a password that is not a sequence or a repetition"),
        ("abcdefghijklm", "expected a password that is not a sequence or a repetition"),
        ("zzzzzzzzzzzzzz", "expected a password that is not a sequence or a repetition"),
        ("abcabcabcabc", "expected a password that is not a sequence or a repetition"),
        ("short-pass", "expected at least 12 characters, got 10"),
        ("new\x07password-1", "expected printable characters, got U+0007"),
    ],
)
def test_a_new_password_must_not_be_blank_common_or_short(accounts, new, says):
    with pytest.raises(InvalidInput, match=re.escape(f"new password: {says}")):
        change_password(accounts, "tech1", PASSWORD, new)
    assert authenticate(accounts, "tech1", PASSWORD).username == "tech1"  # nothing changed


def test_the_command_line_answers_an_unknown_user_like_a_wrong_password(cli, accounts):
    url = accounts.url
    wrong = cli("--db", url, "passwd", "--user", "tech1", "--password-stdin", input="bad\nx\n")
    nobody = cli("--db", url, "passwd", "--user", "nobody", "--password-stdin", input="bad\nx\n")
    assert (wrong.code, wrong.err) == (nobody.code, nobody.err) == (6, wrong.err)
    assert "nobody" not in nobody.err
