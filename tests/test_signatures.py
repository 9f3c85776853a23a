"""Part 11 signatures: name, time and meaning shown; bound to the content; two components."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select, text

from cellbatch.db.tables import Signature
from cellbatch.domain.errors import AuthenticationFailed, InvalidInput, RuleViolation
from cellbatch.services.auth import authenticate
from cellbatch.services.commands import release
from cellbatch.services.commands.signatures import sign
from cellbatch.services.commands.users import set_active
from cellbatch.services.commands.verification import verify
from cellbatch.services.queries.audit import list_entries, verify_trail
from cellbatch.services.queries.batch_view import batch_view
from cellbatch.services.queries.signatures import CONTENT_CHANGED, CORRECTED_SINCE, batch_signatures

RA = "EASC-D001"


def pw(user: str) -> str:
    return f"demo-{user}-pass"


def signature_count(db) -> int:
    with db.session() as session:
        return session.execute(select(func.count()).select_from(Signature)).scalar_one()


def show(cli, db, code: str) -> dict:
    r = cli("--db", db.url, "batch", "show", code, "--json", user="qa2")
    assert r.code == 0, r.err
    return json.loads(r.out)


def entry_of(view: dict, ref: str) -> dict:
    return next(item for item in view["steps"] + view["qc"] if item["id"] == ref)


@pytest.mark.requirement("GMP-11")
def test_signed_entries_show_printed_name_utc_time_meaning_and_validity(demo_db, cli):
    view = show(cli, demo_db, RA)
    signed = [item for item in view["steps"] + view["qc"] if item["signatures"]]
    assert signed
    names = {"tech1": "Tomás Herrera", "tech2": "Ingrid Larsen", "qa2": "Grace Liu"}
    for item in signed:
        for sig in item["signatures"]:
            assert sig["on"] == item["id"] and sig["meaning"] == "verified"
            assert sig["full_name"] == names[sig["username"]]
            assert sig["signed_at"].endswith("Z") and sig["valid"] is True
            assert sig["reason_invalid"] is None
    assert {s["on"] for s in view["signatures"]} == {i["id"] for i in signed}


@pytest.mark.requirement("GMP-12")
@pytest.mark.requirement("GMP-03")
def test_a_correction_after_signing_invalidates_the_signature_until_signed_again(demo_db, cli):
    db = demo_db
    view = show(cli, db, RA)
    result = next(q for q in view["qc"] if q["qc_id"] == "endotoxin-release")
    (before,) = result["verifications"]
    assert before["valid"] and result["verification_status"] == "verified"
    r = cli(
        "--db",
        db.url,
        "correct",
        RA,
        result["id"],
        "--field",
        "value",
        "--value",
        "0.11 EU/mL",
        "--was",
        f"{result['value']['value']} {result['value']['unit']}",
        "--reason",
        "transcription error",
        "--user",
        "tech2",
        "--password-stdin",
        input="demo-tech2-pass\n",
    )
    assert r.code == 0, r.err
    after = entry_of(show(cli, db, RA), result["id"])
    (sig,) = after["verifications"]
    assert sig["id"] == before["id"] and sig["valid"] is False
    assert sig["reason_invalid"] == CONTENT_CHANGED
    assert after["verification_status"] == "invalid"

    r = cli(
        "--db",
        db.url,
        "release",
        RA,
        "--decision",
        "release",
        "--reason",
        "ok",
        "--user",
        "qa1",
        "--password-stdin",
        input="demo-qa1-pass\n",
    )
    assert r.code == 4 and "No invalid signature" in r.err and result["id"] in r.err

    r = cli(
        "--db",
        db.url,
        "verify",
        RA,
        result["id"],
        "--user",
        "sup1",
        "--password-stdin",
        input="demo-sup1-pass\n",
    )
    assert r.code == 0, r.err
    again = entry_of(show(cli, db, RA), result["id"])
    old, new = again["verifications"]
    assert old["superseded"] and not old["valid"] and new["valid"] and not new["superseded"]
    assert again["verification_status"] == "verified"
    r = cli(
        "--db",
        db.url,
        "release",
        RA,
        "--decision",
        "release",
        "--reason",
        "ok",
        "--user",
        "qa1",
        "--password-stdin",
        input="demo-qa1-pass\n",
    )
    assert r.code == 0, r.err


@pytest.mark.requirement("GMP-12")
@pytest.mark.requirement("GMP-01")
def test_a_signature_cannot_be_moved_to_another_record(demo_db):
    db = demo_db
    view = batch_view(db, RA).to_dict()
    sig = view["signatures"][0]
    # another record of the same kind: only the id differs
    other = next(
        i["id"]
        for i in view["steps"] + view["qc"]
        if i["id"] != sig["on"] and i["id"][0] == sig["on"][0]
    )
    with db.engine.begin() as conn:
        conn.execute(
            text("UPDATE signature SET entity_id = :new WHERE id = :id"),
            {"new": int(other[1:]), "id": sig["id"]},
        )
    moved = next(s for s in batch_signatures(db, RA) if s.id == sig["id"])
    assert moved.on == other and not moved.valid and moved.reason_invalid == CONTENT_CHANGED
    report = verify_trail(db)
    assert not report.ok and any("signature" in p for p in report.problems)


@pytest.mark.requirement("GMP-13")
def test_signing_asks_the_password_again_a_wrong_one_is_refused_and_counted(demo_db):
    db = demo_db
    entry = batch_view(db, RA).to_dict()["steps"][0]["id"]
    count = signature_count(db)
    with pytest.raises(AuthenticationFailed, match="user ID or password wrong"):
        sign(db, "tech1", "wrong-password", RA, entry, "performed")
    assert signature_count(db) == count
    failures = [e for e in list_entries(db, entity="app_user") if e.action == "login_failed"]
    assert failures and failures[-1].reason == "wrong password"
    with pytest.raises(InvalidInput, match="password"):
        sign(db, "tech1", "", RA, entry, "performed")
    sig = sign(db, "tech1", pw("tech1"), RA, entry, "performed")
    (view,) = [s for s in batch_signatures(db, RA) if s.id == sig]
    assert view.meaning == "performed" and view.username == "tech1" and view.valid


@pytest.mark.requirement("GMP-18")
def test_deactivated_and_locked_users_cannot_sign(demo_db):
    db = demo_db
    admin = authenticate(db, "admin", pw("admin"))
    entry = batch_view(db, "FUC-D001").to_dict()["steps"][0]["id"]  # recorded by tech1
    set_active(db, admin, "tech2", False, "left the unit")
    with pytest.raises(AuthenticationFailed, match="user ID or password wrong"):
        verify(db, "tech2", pw("tech2"), "FUC-D001", entry)
    for _ in range(5):  # sup1's account locks
        with pytest.raises(AuthenticationFailed):
            authenticate(db, "sup1", "not sup1's password")
    with pytest.raises(AuthenticationFailed, match="user ID or password wrong"):
        verify(db, "sup1", pw("sup1"), "FUC-D001", entry)
    set_active(db, admin, "tech2", True, "came back")
    assert verify(db, "tech2", pw("tech2"), "FUC-D001", entry)


def test_meanings_are_checked_and_decisions_sign_only_through_release(demo_db):
    db = demo_db
    entry = batch_view(db, RA).to_dict()["steps"][0]["id"]
    with pytest.raises(InvalidInput, match="--meaning: expected one of performed"):
        sign(db, "sup1", pw("sup1"), RA, entry, "liked")
    with pytest.raises(InvalidInput, match="cellbatch release"):
        sign(db, "qa1", pw("qa1"), RA, "batch", "released")
    with pytest.raises(InvalidInput, match="cellbatch verify"):
        sign(db, "sup1", pw("sup1"), RA, entry, "verified")
    with pytest.raises(InvalidInput, match="ENTRY-ID"):
        sign(db, "sup1", pw("sup1"), RA, "X9", "reviewed")
    sig = sign(db, "sup1", pw("sup1"), RA, "batch", "reviewed")
    assert next(s for s in batch_signatures(db, RA) if s.id == sig).on == "batch"


@pytest.mark.requirement("GMP-21")
@pytest.mark.requirement("GMP-12")
def test_the_release_signature_covers_the_batch_record_and_stays_valid_after_locking(demo_db):
    db = demo_db
    qa1 = authenticate(db, "qa1", pw("qa1"))
    release.decide(db, qa1, RA, "release", "record complete", password=pw("qa1"))
    (sig,) = [s for s in batch_signatures(db, RA) if s.on == "batch"]
    assert sig.meaning == "released" and sig.valid and sig.username == "qa1"
    with pytest.raises(RuleViolation, match="locked"):
        sign(db, "sup1", pw("sup1"), RA, "batch", "reviewed")
    bank = batch_view(db, RA).to_dict()["parent"]
    (bank_sig,) = [s for s in batch_signatures(db, bank) if s.on == "batch"]
    assert bank_sig.valid, "thawing the bank's vials for a dose does not change the signed bank"
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE qc_result SET method = 'edited behind the back' WHERE batch_id = "
                "(SELECT id FROM batch WHERE code = :c)"
            ),
            {"c": RA},
        )
    (sig,) = [s for s in batch_signatures(db, RA) if s.on == "batch"]
    assert not sig.valid and sig.reason_invalid == CONTENT_CHANGED


@pytest.mark.requirement("GMP-11")
def test_sign_and_list_signatures_from_the_command_line(demo_db, cli):
    entry = batch_view(demo_db, "FUC-D001").to_dict()["steps"][0]["id"]
    r = cli(
        "--db",
        demo_db.url,
        "sign",
        "FUC-D001",
        entry,
        "--meaning",
        "reviewed",
        "--user",
        "sup1",
        "--password-stdin",
        input="demo-sup1-pass\n",
    )
    assert r.code == 0, r.err
    r = cli("--db", demo_db.url, "signatures", "FUC-D001", "--json", user="qa1")
    (sig,) = json.loads(r.out)
    assert (sig["on"], sig["meaning"], sig["full_name"], sig["valid"]) == (
        entry,
        "reviewed",
        "Sofia Moretti",
        True,
    )
    r = cli("--db", demo_db.url, "signatures", "FUC-D001", user="qa1")
    assert r.code == 0 and "Sofia Moretti" in r.out and "reviewed" in r.out
    r = cli(
        "--db",
        demo_db.url,
        "sign",
        "FUC-D001",
        entry,
        "--meaning",
        "reviewed",
        "--user",
        "admin",
        "--password-stdin",
        input="demo-admin-pass\n",
    )
    assert r.code == 5 and "needs role technician, supervisor, qa" in r.err


@pytest.mark.requirement("GMP-19")
def test_only_the_person_who_recorded_an_entry_signs_it_as_performed(demo_db):
    from cellbatch.domain.errors import PermissionDenied

    db = demo_db
    thaw = batch_view(db, RA).to_dict()["steps"][0]
    assert thaw["recorded_by"]["username"] == "tech1"
    with pytest.raises(PermissionDenied, match="did not record"):
        sign(db, "tech2", pw("tech2"), RA, thaw["id"], "performed")
    with pytest.raises(InvalidInput, match="performed signature goes on a step"):
        sign(db, "tech1", pw("tech1"), RA, "batch", "performed")
    assert sign(db, "tech1", pw("tech1"), RA, thaw["id"], "performed")


@pytest.mark.requirement("GMP-12")
@pytest.mark.requirement("GMP-20")
def test_a_correction_back_to_the_signed_value_leaves_the_signature_invalid(demo_db):
    from cellbatch.domain.errors import PermissionDenied, RuleViolation
    from cellbatch.services.auth import authenticate
    from cellbatch.services.commands.corrections import correct
    from cellbatch.services.commands.release import decide
    from cellbatch.services.commands.verification import verify
    from cellbatch.services.queries.verification import verification_status

    db = demo_db
    state = next(v for v in verification_status(db, RA) if v.what.startswith("Bacterial endo"))
    (signature,) = state.verifications
    verifier = authenticate(db, signature.username, f"demo-{signature.username}-pass")
    result = batch_view(db, RA).to_dict()["qc"]
    original = next(q for q in result if q["id"] == state.ref)["value"]["value"]
    # the verifier changes the value and puts it back: what was signed is back, but was changed
    correct(db, verifier, RA, state.ref, field="value", value="0.2 EU/mL", reason="misread")
    correct(db, verifier, RA, state.ref, field="value", value=f"{original} EU/mL", reason="undo")
    after = next(v for v in verification_status(db, RA) if v.ref == state.ref)
    (sig,) = after.verifications
    assert after.status == "invalid" and sig.reason_invalid == CORRECTED_SINCE
    with pytest.raises(PermissionDenied, match="recorded or corrected"):
        verify(db, verifier.username, f"demo-{verifier.username}-pass", RA, state.ref)
    with pytest.raises(RuleViolation, match="not verified"):
        decide(
            db,
            authenticate(db, "qa1", "demo-qa1-pass"),
            RA,
            "release",
            "ok",
            password="demo-qa1-pass",
        )
    other = "sup1"
    verify(db, other, f"demo-{other}-pass", RA, state.ref)
    final = next(v for v in verification_status(db, RA) if v.ref == state.ref)
    assert final.status == "verified" and final.verifications[-1].username == other


@pytest.mark.requirement("GMP-09")
def test_no_one_reviews_or_approves_their_own_work_or_signs_the_same_twice(demo_db):
    from cellbatch.domain.errors import PermissionDenied
    from tests.lab import snapshot

    db = demo_db
    thaw = batch_view(db, RA).to_dict()["steps"][0]
    assert thaw["recorded_by"]["username"] == "tech1"
    before = snapshot(db)
    for meaning in ("reviewed", "approved"):
        with pytest.raises(PermissionDenied, match="recorded or corrected .* someone else"):
            sign(db, "tech1", pw("tech1"), RA, thaw["id"], meaning)
        with pytest.raises(PermissionDenied, match=f"may not sign {RA} as {meaning}: they"):
            sign(db, "tech1", pw("tech1"), RA, "batch", meaning)
    assert snapshot(db) == before
    assert sign(db, "qa1", pw("qa1"), RA, thaw["id"], "reviewed")
    with pytest.raises(RuleViolation, match="already signed .* as reviewed"):
        sign(db, "qa1", pw("qa1"), RA, thaw["id"], "reviewed")
    assert sign(db, "tech1", pw("tech1"), RA, thaw["id"], "performed")
    with pytest.raises(RuleViolation, match="already signed .* as performed"):
        sign(db, "tech1", pw("tech1"), RA, thaw["id"], "performed")
