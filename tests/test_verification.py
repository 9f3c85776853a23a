"""Second-person verification of the entries the SOP marks critical."""

from __future__ import annotations

import pytest

from cellbatch.domain.errors import InvalidInput, NotFound, PermissionDenied, RuleViolation
from cellbatch.domain.sop import find_sop
from cellbatch.services.auth import authenticate
from cellbatch.services.commands.corrections import correct
from cellbatch.services.commands.verification import verify
from cellbatch.services.queries.audit import list_entries
from cellbatch.services.queries.batch_view import batch_view
from cellbatch.services.queries.sops import available_sops
from cellbatch.services.queries.verification import verification_status

EB = "FUC-D001"
RA = "EASC-D001"


def pw(user: str) -> str:
    return f"demo-{user}-pass"


def state(db, code: str, ref: str):
    return next(s for s in verification_status(db, code) if s.ref == ref)


def entry(db, code: str, kind: str) -> dict:
    return next(e for e in batch_view(db, code).to_dict()["steps"] if e["kind"] == kind)


@pytest.mark.requirement("GMP-20")
def test_what_needs_verification_follows_the_sop(demo_db):
    bank = batch_view(demo_db, RA).to_dict()["parent"]
    for code in (bank, RA, EB):
        view = batch_view(demo_db, code).to_dict()
        sop = find_sop(available_sops(), view["sop"]["id"], view["sop"]["version"])
        for item in view["steps"]:
            step = sop.step(item["kind"])
            critical = any(p.critical for p in step.parameters) or bool(step.materials)
            assert item["needs_verification"] is critical
        for item in view["qc"]:
            assert item["needs_verification"] is sop.qc_test(item["qc_id"]).critical
    bank_qc = batch_view(demo_db, bank).to_dict()["qc"]
    assert {q["needs_verification"] for q in bank_qc} == {True, False}  # e.g. CD markers are not


@pytest.mark.requirement("GMP-20")
@pytest.mark.requirement("GMP-09")
def test_the_recorder_cannot_verify_their_own_entry_another_person_can(demo_db, cli):
    db = demo_db
    thaw = entry(db, EB, "thaw")
    assert thaw["recorded_by"]["username"] == "tech1"
    assert thaw["verification_status"] == "pending"
    before = len(list_entries(db))
    r = cli(
        "--db",
        db.url,
        "verify",
        EB,
        thaw["id"],
        "--user",
        "tech1",
        "--password-stdin",
        input="demo-tech1-pass\n",
    )
    assert r.code == 5 and "a second person must verify it" in r.err
    assert len(list_entries(db)) == before and state(db, EB, thaw["id"]).status == "pending"
    r = cli(
        "--db",
        db.url,
        "verify",
        EB,
        thaw["id"],
        "--user",
        "tech2",
        "--password-stdin",
        input="demo-tech2-pass\n",
    )
    assert r.code == 0, r.err
    done = entry(db, EB, "thaw")
    assert done["verification_status"] == "verified"
    (sig,) = done["verifications"]
    assert sig["username"] == "tech2" and sig["meaning"] == "verified" and sig["valid"]


@pytest.mark.requirement("GMP-20")
def test_whoever_corrected_an_entry_cannot_verify_it(demo_db):
    db = demo_db
    tech2 = authenticate(db, "tech2", pw("tech2"))
    thaw = entry(db, EB, "thaw")
    correct(db, tech2, EB, thaw["id"], field="viability", value="85 %", reason="recount")
    with pytest.raises(PermissionDenied, match="recorded or corrected"):
        verify(db, "tech2", pw("tech2"), EB, thaw["id"])
    with pytest.raises(PermissionDenied, match="recorded or corrected"):
        verify(db, "tech1", pw("tech1"), EB, thaw["id"])
    assert verify(db, "sup1", pw("sup1"), EB, thaw["id"])
    assert state(db, EB, thaw["id"]).status == "verified"


@pytest.mark.requirement("GMP-20")
def test_a_verified_entry_is_not_verified_twice_until_it_changes(demo_db):
    db = demo_db
    fill = entry(db, RA, "fill")
    assert fill["verification_status"] == "verified"
    with pytest.raises(RuleViolation, match="already verified by"):
        verify(db, "sup1", pw("sup1"), RA, fill["id"])
    tech1 = authenticate(db, "tech1", pw("tech1"))
    correct(db, tech1, RA, fill["id"], field="volume", value="41 mL", reason="bag weighed")
    assert state(db, RA, fill["id"]).status == "invalid"
    assert verify(db, "sup1", pw("sup1"), RA, fill["id"])
    assert state(db, RA, fill["id"]).status == "verified"


@pytest.mark.requirement("GMP-09")
def test_only_technicians_supervisors_and_qa_verify(demo_db):
    db = demo_db
    thaw = entry(db, EB, "thaw")
    with pytest.raises(PermissionDenied, match="needs role technician, supervisor, qa"):
        verify(db, "admin", pw("admin"), EB, thaw["id"])
    assert verify(db, "qa1", pw("qa1"), EB, thaw["id"])


def test_a_bad_or_foreign_entry_id_is_refused(demo_db):
    db = demo_db
    with pytest.raises(InvalidInput, match="ENTRY-ID"):
        verify(db, "tech2", pw("tech2"), EB, "thaw")
    with pytest.raises(InvalidInput, match="ENTRY-ID"):
        verify(db, "tech2", pw("tech2"), EB, "D1")
    other = entry(db, RA, "thaw")["id"]
    with pytest.raises(NotFound, match=f"no entry {other}"):
        verify(db, "tech2", pw("tech2"), EB, other)


@pytest.mark.requirement("GMP-13")
def test_verifying_asks_the_password_again_and_counts_a_wrong_one(demo_db):
    from cellbatch.domain.errors import AuthenticationFailed

    db = demo_db
    thaw = entry(db, EB, "thaw")
    with pytest.raises(AuthenticationFailed, match="user ID or password wrong"):
        verify(db, "tech2", "not-my-password", EB, thaw["id"])
    assert state(db, EB, thaw["id"]).status == "pending"
    failed = [e for e in list_entries(db) if e.action == "login_failed"]
    assert failed[-1].entity_id == str(authenticate(db, "tech2", pw("tech2")).id)
    assert verify(db, "tech2", pw("tech2"), EB, thaw["id"])
