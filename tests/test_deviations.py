"""Deviations: opened for OOS results or by hand, investigated, closed by QA with a signature."""

from __future__ import annotations

import json

import pytest

from cellbatch.domain.errors import (
    AuthenticationFailed,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RuleViolation,
)
from cellbatch.services.auth import authenticate
from cellbatch.services.commands import qc
from cellbatch.services.commands.deviations import close_deviation, open_deviation, update_deviation
from cellbatch.services.queries.audit import list_entries
from cellbatch.services.queries.batch_view import batch_view
from cellbatch.services.queries.deviations import list_deviations
from cellbatch.services.queries.users import list_users

EB = "FUC-D001"
RA = "EASC-D001"


def pw(user: str) -> str:
    return f"demo-{user}-pass"


def who(db, user: str):
    return authenticate(db, user, pw(user))


def investigate(db, ref: str, user: str = "sup1") -> None:
    update_deviation(
        db,
        who(db, user),
        ref,
        classification="major",
        investigation="enzyme aliquot left at room temperature",
        root_cause="storage instruction unclear",
        capa="SOP wording changed; staff retrained",
    )


def test_an_out_of_spec_result_opens_a_deviation_in_the_same_transaction(demo_db):
    db = demo_db
    (oos,) = [q for q in batch_view(db, EB).to_dict()["qc"] if not q["passed"]]
    (dev,) = list_deviations(db, EB)
    assert dev.qc_result == oos["id"] and dev.status == "open"
    assert oos["id"] in dev.description and oos["specification"] in dev.description
    tech2 = who(db, "tech2")
    retest = qc.record_qc(db, tech2, EB, test="heca452", value="45 %", stage="in-process")
    again = qc.record_qc(db, tech2, EB, test="heca452", value="58 %", stage="in-process")
    devs = list_deviations(db, EB)
    assert [d.qc_result for d in devs] == [oos["id"], f"Q{retest}"]
    assert f"a retest of {oos['id']}" in devs[1].description
    assert all(d.qc_result != f"Q{again}" for d in devs)  # a passing result opens none
    created = [e for e in list_entries(db) if e.entity == "deviation" and e.action == "create"]
    result_entry = next(
        e for e in list_entries(db) if e.entity == "qc_result" and e.entity_id == str(retest)
    )
    assert created[-1].seq == result_entry.seq + 1 and created[-1].username == "tech2"


def test_deviations_are_opened_by_hand_and_listed(demo_db, cli):
    db = demo_db
    r = cli(
        "--db",
        db.url,
        "deviation",
        "open",
        RA,
        "--title",
        "Centrifuge alarm",
        "--description",
        "alarm during the wash; run repeated",
        "--classification",
        "minor",
        "--user",
        "tech1",
        "--password-stdin",
        input="demo-tech1-pass\n",
    )
    assert r.code == 0, r.err
    ref = r.out.split(":")[0]
    r = cli("--db", db.url, "deviation", "list", "--json", user="qa1")
    rows = json.loads(r.out)
    assert {d["batch"] for d in rows} == {EB, RA}
    mine = next(d for d in rows if d["id"] == ref)
    assert mine["classification"] == "minor" and mine["opened_by"] == "tech1"
    r = cli(
        "--db", db.url, "deviation", "list", "--batch", RA, "--status", "closed", "--json",
        user="qa1",
    )  # fmt: skip
    assert json.loads(r.out) == []
    r = cli("--db", db.url, "deviation", "list", user="qa1")
    assert r.code == 0 and ref in r.out and "Centrifuge alarm" in r.out
    with pytest.raises(InvalidInput, match="--title"):
        open_deviation(db, who(db, "tech1"), RA, title="  ", description="x")
    with pytest.raises(InvalidInput, match="--classification: expected one of minor"):
        open_deviation(db, who(db, "tech1"), RA, title="t", description="d", classification="big")
    with pytest.raises(PermissionDenied):
        open_deviation(db, who(db, "admin"), RA, title="t", description="d")


@pytest.mark.requirement("GMP-06")
def test_changing_a_written_part_of_a_deviation_needs_a_reason(demo_db):
    db = demo_db
    (dev,) = list_deviations(db, EB)
    sup1 = who(db, "sup1")
    update_deviation(db, sup1, dev.id, investigation="first look")
    with pytest.raises(InvalidInput, match="--reason"):
        update_deviation(db, sup1, dev.id, investigation="second look")
    update_deviation(db, sup1, dev.id, investigation="second look", reason="flow data re-gated")
    (dev,) = list_deviations(db, EB)
    assert dev.investigation == "second look"
    changes = [
        e for e in list_entries(db) if e.entity == "deviation" and e.field == "investigation"
    ]
    assert [(e.old_value, e.new_value) for e in changes] == [
        (None, "first look"),
        ("first look", "second look"),
    ]
    assert changes[-1].reason == "flow data re-gated"
    with pytest.raises(NotFound, match="no deviation D999"):
        update_deviation(db, sup1, "D999", capa="x")


@pytest.mark.requirement("GMP-09")
@pytest.mark.requirement("GMP-11")
def test_only_qa_closes_a_fully_investigated_deviation_with_a_signature(demo_db, cli):
    db = demo_db
    (dev,) = list_deviations(db, EB)
    with pytest.raises(RuleViolation, match="classification, investigation, root cause, capa"):
        close_deviation(db, "qa1", pw("qa1"), dev.id)
    investigate(db, dev.id)
    with pytest.raises(PermissionDenied, match="needs role qa"):
        close_deviation(db, "sup1", pw("sup1"), dev.id)
    with pytest.raises(AuthenticationFailed, match="user ID or password wrong"):
        close_deviation(db, "qa1", "wrong", dev.id)
    assert list_deviations(db, EB)[0].status == "open"
    r = cli(
        "--db",
        db.url,
        "deviation",
        "close",
        dev.id,
        "--user",
        "qa1",
        "--password-stdin",
        input="demo-qa1-pass\n",
    )
    assert r.code == 0, r.err
    (closed,) = batch_view(db, EB).to_dict()["deviations"]
    assert closed["status"] == "closed" and closed["closed_by"] == "qa1" and closed["closed_at"]
    (sig,) = closed["signatures"]
    assert sig["meaning"] == "approved" and sig["full_name"] == "Quentin Okafor" and sig["valid"]
    assert any(s["on"] == dev.id for s in batch_view(db, EB).to_dict()["signatures"])
    with pytest.raises(RuleViolation, match="is closed"):
        update_deviation(db, who(db, "sup1"), dev.id, capa="more")
    with pytest.raises(RuleViolation, match="is closed"):
        close_deviation(db, "qa2", pw("qa2"), dev.id)


def test_deviation_update_from_the_command_line(demo_db, cli):
    (dev,) = list_deviations(demo_db, EB)
    r = cli(
        "--db",
        demo_db.url,
        "deviation",
        "update",
        dev.id,
        "--classification",
        "critical",
        "--root-cause",
        "enzyme lot",
        "--user",
        "sup1",
        "--password-stdin",
        input="demo-sup1-pass\n",
    )
    assert r.code == 0, r.err
    (dev,) = list_deviations(demo_db, EB)
    assert dev.classification == "critical" and dev.root_cause == "enzyme lot"
    r = cli(
        "--db",
        demo_db.url,
        "deviation",
        "update",
        dev.id,
        "--user",
        "sup1",
        "--password-stdin",
        input="demo-sup1-pass\n",
    )
    assert r.code == 2 and "expected at least one of" in r.err


@pytest.mark.requirement("GMP-17")
def test_five_wrong_passwords_lock_the_account_the_lock_and_attempts_are_audited(demo_db, cli):
    db = demo_db
    (dev,) = list_deviations(db, EB)
    user_id = str(who(db, "qa1").id)
    for attempt in range(1, 5):
        r = cli(
            "--db",
            db.url,
            "deviation",
            "close",
            dev.id,
            "--user",
            "qa1",
            "--password-stdin",
            input="guess\n",
        )
        assert r.code == 6 and "user ID or password wrong" in r.err
        assert next(u.failed_attempts for u in list_users(db) if u.username == "qa1") == attempt
        assert not next(u.locked for u in list_users(db) if u.username == "qa1")
    r = cli(
        "--db",
        db.url,
        "deviation",
        "close",
        dev.id,
        "--user",
        "qa1",
        "--password-stdin",
        input="guess\n",
    )
    assert r.code == 6 and "user ID or password wrong" in r.err
    assert next(u.locked for u in list_users(db) if u.username == "qa1")
    r = cli("--db", db.url, "review", EB, user="qa2")  # the others still read
    assert r.code == 0
    r = cli(
        "--db",
        db.url,
        "deviation",
        "close",
        dev.id,
        "--user",
        "qa1",
        "--password-stdin",
        input="demo-qa1-pass\n",
    )
    assert r.code == 6 and "user ID or password wrong" in r.err  # the right one, on a lock
    r = cli("--db", db.url, "audit", "show", "--json", user="qa2")
    trail = [
        e for e in json.loads(r.out) if e["entity"] == "app_user" and e["entity_id"] == user_id
    ]
    assert [e["action"] for e in trail[-7:]] == ["login_failed"] * 5 + [
        "account_locked",
        "login_failed",
    ]
    assert all(e["reason"] == "wrong password" for e in trail[-7:-2])
    assert trail[-1]["reason"] == "log-in attempt on a locked account"
    assert list_deviations(db, EB)[0].status == "open"


@pytest.mark.requirement("GMP-08")
def test_a_result_made_out_of_spec_by_a_correction_opens_a_deviation_naming_it(demo_db):
    from cellbatch.services.commands import release
    from cellbatch.services.commands.corrections import correct
    from cellbatch.services.commands.verification import verify
    from cellbatch.services.queries.review import review

    db = demo_db
    result = next(
        q for q in batch_view(db, RA).to_dict()["qc"] if q["qc_id"] == "endotoxin-release"
    )
    correct(
        db,
        who(db, "tech2"),
        RA,
        result["id"],
        field="value",
        value="0.7 EU/mL",
        reason="instrument printout re-read",
    )
    (oos,) = review(db, RA).to_dict()["out_of_spec"]
    (ref,) = oos["deviations"]  # opened automatically by the correction, in its transaction
    assert oos["id"] == result["id"]
    assert (
        next(d for d in batch_view(db, RA).to_dict()["deviations"] if d["id"] == ref)["status"]
        == "open"
    )
    verify(db, "sup1", pw("sup1"), RA, result["id"])
    with pytest.raises(RuleViolation, match="No open deviation"):
        release.decide(db, "qa1", RA, "release", "review", password=pw("qa1"))
    passing = next(q for q in batch_view(db, RA).to_dict()["qc"] if q["passed"])["id"]
    with pytest.raises(RuleViolation, match="within specification"):
        open_deviation(db, who(db, "tech2"), RA, title="t", description="d", qc_result=passing)
    investigate(db, ref)
    close_deviation(db, "qa2", pw("qa2"), ref)
    with pytest.raises(RuleViolation, match=f"failing: endotoxin-release \\({result['id']}\\)"):
        release.decide(db, "qa1", RA, "release", "review", password=pw("qa1"))
    retest = qc.record_qc(db, who(db, "tech2"), RA, test="endotoxin", value="0.1 EU/mL")
    verify(db, "sup1", pw("sup1"), RA, f"Q{retest}")
    assert release.decide(db, "qa1", RA, "release", "review", password=pw("qa1")) == "released"
