"""Review by exception and the QA release decision, on the demo data, on both databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from cellbatch.domain.errors import (
    AuthenticationFailed,
    InvalidInput,
    PermissionDenied,
    RuleViolation,
)
from cellbatch.services.auth import authenticate
from cellbatch.services.commands import donors, qc, release, steps
from cellbatch.services.commands.corrections import correct
from cellbatch.services.commands.deviations import close_deviation, open_deviation, update_deviation
from cellbatch.services.commands.verification import verify
from cellbatch.services.queries.audit import list_entries
from cellbatch.services.queries.batch_view import batch_view
from cellbatch.services.queries.donors import donor_view
from cellbatch.services.queries.review import review
from cellbatch.services.queries.verification import verification_status
from tests.lab import next_demo_dose

RA = "EASC-D001"
EB = "FUC-D001"


def pw(user: str) -> str:
    return f"demo-{user}-pass"


def who(db, user: str):
    return authenticate(db, user, pw(user))


def run(cli, db, *args: str, user: str | None = None, password: str | None = None):
    extra = ("--user", user, "--password-stdin") if user else ()
    return cli("--db", db.url, *args, *extra, input=f"{password or pw(user or '')}\n")


def unmet(db, code: str) -> set[str]:
    return {c["id"] for c in review(db, code).to_dict()["checklist"] if not c["met"]}


def release_cmd(cli, db, code: str, user: str, password: str | None = None, decision="release"):
    return run(
        cli,
        db,
        "release",
        code,
        "--decision",
        decision,
        "--reason",
        "record reviewed",
        user=user,
        password=password,
    )


# ----------------------------------------------------------------------------- the RA dose


@pytest.mark.requirement("GMP-09")
@pytest.mark.requirement("GMP-13")
@pytest.mark.requirement("GMP-17")
@pytest.mark.requirement("GMP-21")
def test_ra_dose_release_refused_for_tech_involved_qa_wrong_password_then_accepted(demo_db, cli):
    db = demo_db
    r = release_cmd(cli, db, RA, "tech1")
    assert r.code == 5 and "needs role qa" in r.err
    involved = [
        s for s in verification_status(db, RA) for v in s.verifications if v.username == "qa2"
    ]
    assert involved, "the demo has qa2 verify an entry of the RA dose"
    r = release_cmd(cli, db, RA, "qa2")
    assert r.code == 5 and f"verified {involved[0].ref}" in r.err
    before = batch_view(db, RA).to_dict()
    assert before["status"] == "in-process" and before["release_decisions"] == []

    r = release_cmd(cli, db, RA, "qa1", password="not-the-password")
    assert r.code == 6 and "user ID or password wrong" in r.err
    audit = [e for e in list_entries(db, entity="app_user") if e.action == "login_failed"]
    assert audit[-1].entity_id == str(who(db, "qa1").id)
    assert batch_view(db, RA).to_dict()["status"] == "in-process"

    r = release_cmd(cli, db, RA, "qa1")
    assert r.code == 0, r.err
    view = batch_view(db, RA).to_dict()
    assert view["status"] == "released"
    (decision,) = view["release_decisions"]
    assert decision["decided_by"]["username"] == "qa1"
    (sig,) = [s for s in view["signatures"] if s["on"] == "batch"]
    assert sig["meaning"] == "released" and sig["valid"] and sig["full_name"] == "Quentin Okafor"


@pytest.mark.requirement("GMP-08")
def test_after_release_every_write_to_the_batch_is_refused(demo_db, cli):
    db = demo_db
    assert release_cmd(cli, db, RA, "qa1").code == 0
    entry = batch_view(db, RA).to_dict()["steps"][0]["id"]
    result = batch_view(db, RA).to_dict()["qc"][0]["id"]
    attempts = [
        run(
            cli, db, "qc", "record", RA, "--test", "endotoxin", "--value", "0.1 EU/mL", user="tech2"
        ),
        run(
            cli,
            db,
            "correct",
            RA,
            result,
            "--field",
            "value",
            "--value",
            "90 %",
            "--was",
            "85 %",
            "--reason",
            "typo",
            user="tech2",
        ),
        run(cli, db, "verify", RA, entry, user="sup1"),
        run(
            cli,
            db,
            "deviation",
            "open",
            RA,
            "--title",
            "late note",
            "--description",
            "x",
            user="tech2",
        ),
        run(cli, db, "sign", RA, entry, "--meaning", "reviewed", user="sup1"),
        release_cmd(cli, db, RA, "qa1", decision="reject"),
    ]
    for r in attempts:
        assert r.code == 4 and "released and locked" in r.err, r.err
    assert batch_view(db, RA).to_dict()["status"] == "released"


def test_review_json_on_the_ra_dose_has_all_criteria_met(demo_db, cli):
    r = cli("--db", demo_db.url, "review", RA, "--json", user="qa1")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["checklist"] and all(c["met"] for c in data["checklist"])
    assert data["ready_for_release"] is True
    assert data["out_of_spec"] == [] and data["deviations"] == []
    assert data["missing_verifications"] == [] and data["invalid_signatures"] == []


def test_review_json_on_the_eb_dose_lists_its_oos_result_and_deviation(demo_db, cli):
    r = cli("--db", demo_db.url, "review", EB, "--json", user="qa1")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    view = batch_view(demo_db, EB).to_dict()
    oos = [q for q in view["qc"] if not q["passed"]]
    assert oos and [o["id"] for o in data["out_of_spec"]] == [q["id"] for q in oos]
    assert oos[0]["qc_id"] == "heca452-in-process"
    (dev,) = data["deviations"]
    assert dev["qc_result"] == oos[0]["id"] and dev["status"] == "open"
    assert data["out_of_spec"][0]["deviations"] == [dev["id"]]
    criteria = {c["id"]: c for c in data["checklist"]}
    assert not criteria["oos-deviations-closed"]["met"]
    assert not criteria["no-open-deviation"]["met"]
    assert data["ready_for_release"] is False
    assert data["donor_eligibility"] == {
        "code": "DN-2026-0002",
        "eligibility": "ineligible-related",
    }
    text = cli("--db", demo_db.url, "review", EB, user="qa1")
    assert text.code == 0 and "NOT ready for release" in text.out and dev["id"] in text.out


# ----------------------------------------------------------------------------- both ways


@pytest.mark.requirement("GMP-08")
@pytest.mark.requirement("GMP-20")
def test_eb_dose_release_refused_with_the_unmet_criteria_until_each_is_met(db):
    from cellbatch.documents.labels import render as render_labels
    from cellbatch.services.demo import load_demo

    load_demo(
        db, render_labels=render_labels
    )  # freshly, not the session's copy: the fill has a window of an hour
    tech1, tech2, sup1, qa1 = (who(db, u) for u in ("tech1", "tech2", "sup1", "qa1"))
    with pytest.raises(RuleViolation) as refused:
        release.decide(db, qa1, EB, "release", "review", password=pw("qa1"))
    message = str(refused.value)
    for text in (
        "release-required QC",
        "closed deviation",
        "No open deviation",
        "verified by a second person",
        "bag is filled",
    ):
        assert text in message
    # the process goes on: a retest that passes, the fill, release QC, verification
    qc.record_qc(db, tech2, EB, test="heca452", value="61 %", stage="in-process")
    steps.fill(db, tech1, EB, volume="10 mL", cells="4.0e7 cells", materials=["SAL-HSA-0915"])
    for test, value in (
        ("viability", "84 %"),
        ("gram-stain", "negative"),
        ("endotoxin", "0.1 EU/mL"),
    ):
        qc.record_qc(db, tech2, EB, test=test, value=value, stage="release")
    for state in verification_status(db, EB):
        if state.needs_verification and state.status != "verified":
            verifier = sup1 if state.recorded_by != sup1.id else tech1
            verify(db, verifier.username, pw(verifier.username), EB, state.ref)
    assert unmet(db, EB) == {"oos-deviations-closed", "no-open-deviation"}
    with pytest.raises(RuleViolation, match="No open deviation"):
        release.decide(db, qa1, EB, "release", "review", password=pw("qa1"))
    (dev,) = review(db, EB).to_dict()["deviations"]
    update_deviation(
        db,
        sup1,
        dev["id"],
        classification="major",
        investigation="reagent lot FTVII-0042 thawed twice",
        root_cause="storage error",
        capa="single-use aliquots; retraining",
    )
    close_deviation(db, "qa2", pw("qa2"), dev["id"])
    assert unmet(db, EB) == set()
    assert release.decide(db, qa1, EB, "release", "review", password=pw("qa1")) == "released"


@pytest.mark.requirement("GMP-08")
def test_an_open_deviation_blocks_release_and_its_closure_allows_it(demo_db):
    db = demo_db
    tech2, qa1 = who(db, "tech2"), who(db, "qa1")
    dev = open_deviation(
        db, tech2, RA, title="Bag label smudged", description="first label smudged, reprinted"
    )
    with pytest.raises(RuleViolation, match=f"open: D{dev}"):
        release.decide(db, qa1, RA, "release", "review", password=pw("qa1"))
    update_deviation(
        db,
        tech2,
        f"D{dev}",
        classification="minor",
        investigation="printer",
        root_cause="ribbon",
        capa="ribbon replaced",
    )
    close_deviation(db, "qa2", pw("qa2"), f"D{dev}")
    assert release.decide(db, qa1, RA, "release", "review", password=pw("qa1")) == "released"


@pytest.mark.requirement("GMP-08")
def test_product_from_a_pending_donor_stays_in_quarantine(demo_db):
    db = demo_db
    sup1, qa1 = who(db, "sup1"), who(db, "qa1")
    donor = batch_view(db, RA).to_dict()["donor"]["code"]
    donors.set_eligibility(db, sup1, donor, "pending", "marker retest requested")
    with pytest.raises(RuleViolation, match="pending"):
        release.decide(db, qa1, RA, "release", "review", password=pw("qa1"))
    assert release.decide(db, qa1, RA, "quarantine", "await donor", password=pw("qa1")) == (
        "quarantine"
    )
    donors.set_eligibility(db, sup1, donor, "eligible", "retest negative")
    assert release.decide(db, qa1, RA, "release", "review", password=pw("qa1")) == "released"


@pytest.mark.requirement("GMP-09")
def test_reject_needs_no_criteria_but_qa_and_locks_the_batch(demo_db):
    db = demo_db
    tech1, qa2 = who(db, "tech1"), who(db, "qa2")
    with pytest.raises(PermissionDenied):
        release.decide(db, tech1, EB, "reject", "HECA-452 low", password=pw("tech1"))
    assert release.decide(db, qa2, EB, "reject", "HECA-452 low", password=pw("qa2")) == "rejected"
    view = batch_view(db, EB).to_dict()
    assert [s["meaning"] for s in view["signatures"] if s["on"] == "batch"] == ["rejected"]
    with pytest.raises(RuleViolation, match="rejected and locked"):
        qc.record_qc(db, who(db, "tech2"), EB, test="heca452", value="60 %", stage="in-process")


def test_a_refused_release_changes_nothing(demo_db):
    db = demo_db
    before = len(list_entries(db))
    with pytest.raises(PermissionDenied):
        release.decide(db, who(db, "qa2"), RA, "release", "review", password=pw("qa2"))
    with pytest.raises(RuleViolation):
        release.decide(db, who(db, "qa1"), EB, "release", "review", password=pw("qa1"))
    assert len(list_entries(db)) == before
    assert batch_view(db, RA).to_dict()["status"] == "in-process"


@pytest.mark.requirement("GMP-13")
def test_release_counts_a_wrong_password_even_for_a_qa_officer(demo_db):
    db = demo_db
    from cellbatch.services.queries.users import list_users

    with pytest.raises(AuthenticationFailed, match="user ID or password wrong"):
        release.decide(db, "qa1", RA, "release", "review", password="wrong")
    with pytest.raises(AuthenticationFailed, match="user ID or password wrong"):
        release.decide(db, "qa1", RA, "release", "review", password="wrong again")
    assert next(u.failed_attempts for u in list_users(db) if u.username == "qa1") == 2
    assert batch_view(db, RA).to_dict()["release_decisions"] == []


# ----------------------------------------------------------------------------- review items


def test_late_entries_use_a_configurable_threshold(demo_db, monkeypatch):
    bank = batch_view(demo_db, RA).to_dict()["parent"]
    late = review(demo_db, bank).to_dict()["late_entries"]
    assert late and all(e["hours_late"] > 24 for e in late)  # demo bank QC recorded days later
    assert review(demo_db, RA).to_dict()["late_entries"] == []
    monkeypatch.setenv("CELLBATCH_LATE_ENTRY_HOURS", str(24 * 365))
    assert review(demo_db, bank).to_dict()["late_entries"] == []
    monkeypatch.setenv("CELLBATCH_LATE_ENTRY_HOURS", "0")
    assert review(demo_db, RA).to_dict()["late_entries"]


def test_review_flags_corrections_windows_and_doses_near_the_limit(demo_db):
    db = demo_db
    tech2 = who(db, "tech2")
    view = batch_view(db, RA).to_dict()
    assert review(db, RA).to_dict()["doses_near_tolerance"] == []
    fill = view["fill"]["entry"]
    high = view["target_window"]["high"]["value"] * 0.995
    correct(
        db,
        tech2,
        RA,
        fill,
        field="viable_cells",
        value=f"{high} cells",
        reason="recount of the bag",
    )
    data = review(db, RA).to_dict()
    (near,) = data["doses_near_tolerance"]
    assert near["entry"] == fill and near["within_tolerance"]
    assert [c["entry"] for c in data["corrections"]] == [fill]
    # the corrected bag's dose is recomputed as a new cell-dose result (the original stays)
    doses = [q for q in batch_view(db, RA).to_dict()["qc"] if q["test"] == "cell-dose"]
    assert len(doses) == 2 and doses[1]["retest_of"] == doses[0]["id"]
    assert doses[1]["value"]["value"] == pytest.approx(99.5 * (1 + 0.1))
    assert {m["id"] for m in data["missing_verifications"]} == {fill, doses[1]["id"]}
    assert data["sop_windows_exceeded"] == [] and not data["ready_for_release"]
    # a work time is corrected only within the batch's order of steps
    thaw = view["thaw"]["entry"]
    thawed = datetime.fromisoformat(view["thaw"]["thawed_at"].replace("Z", "+00:00"))
    moved = (thawed - timedelta(hours=3)).isoformat()
    with pytest.raises(InvalidInput, match="--value: .* is before the batch started"):
        correct(db, tech2, RA, thaw, field="at", value=moved, reason="clock of the terminal")
    # a dose thawed 4.5 h ago and not yet filled has passed its 3 h window to the fill

    now = datetime.now(UTC)
    next_demo_dose(db, tech2, at=now - timedelta(hours=5))
    late = steps.thaw(db, tech2, "EASC-D002", vials=2, total_cells="90e6 cells", viability="90 %",
                      materials=["DPBS-88812"], at=now - timedelta(hours=4.5))  # fmt: skip
    (window,) = review(db, "EASC-D002").to_dict()["sop_windows_exceeded"]
    assert window["window"] == "thaw_to_fill_max" and window["from"] == f"E{late}"
    assert window["to"] == "now (not filled)" and window["actual_hours"] > 4.4


@pytest.mark.requirement("GMP-08")
def test_an_expired_bag_is_not_released(db):
    from datetime import UTC

    from cellbatch.documents.labels import render as render_labels
    from cellbatch.services.demo import load_demo

    load_demo(db, now=datetime.now(UTC) - timedelta(hours=5), render_labels=render_labels)
    criteria = {c["id"]: c for c in review(db, RA).to_dict()["checklist"]}
    assert not criteria["bag-in-date"]["met"]
    assert [c for c, v in criteria.items() if not v["met"]] == ["bag-in-date"]
    with pytest.raises(RuleViolation, match="The bag has not expired"):
        release.decide(db, "qa1", RA, "release", "review", password=pw("qa1"))
    assert release.decide(db, "qa1", RA, "reject", "expired", password=pw("qa1")) == "rejected"


@pytest.mark.requirement("GMP-34")
def test_a_release_told_at_the_storys_time_is_checked_at_that_time(db):
    """The demo tells past decisions at their time (told_time: RA-P002's dose released six
    days ago). The checklist QA decides on is computed at the decision's time, the unit of
    work's: a bag expired by the clock was in date when the release is told, and the
    checklist kept with the decision says so. Told at no time, the same release is refused."""
    from cellbatch.documents.labels import render as render_labels
    from cellbatch.services.demo import load_demo
    from cellbatch.services.queries.documents import record_data
    from cellbatch.services.trusted_time import told_time

    load_demo(db, now=datetime.now(UTC) - timedelta(hours=5), render_labels=render_labels)
    with pytest.raises(RuleViolation, match="The bag has not expired"):
        release.decide(db, "qa1", RA, "release", "review", password=pw("qa1"))
    told = datetime.now(UTC) - timedelta(hours=4)  # filled 5 h 40 min ago, in date for 4 h
    with told_time(told):
        assert release.decide(db, "qa1", RA, "release", "review", password=pw("qa1")) == (
            "released"
        )
    record = record_data(db, RA)
    kept = {c.id: c for c in record.release_checklist}
    assert kept["bag-in-date"].met and all(c.met for c in kept.values())
    decided = datetime.fromisoformat(record.release_checklist_decided_at.replace("Z", "+00:00"))
    assert decided == told.replace(microsecond=decided.microsecond)


@pytest.mark.requirement("GMP-08")
def test_a_bank_is_released_only_once_frozen(demo_db):
    from cellbatch.services.commands import batches

    db = demo_db
    lot = batch_view(db, "EASC-B001").to_dict()["tissue_lot"]["lot"]
    batches.start_expansion(
        db, who(db, "tech1"), "EASC-B002", lot_number=lot, sop_id="SOP-EASC-EXP"
    )
    assert "bank-frozen" in unmet(db, "EASC-B002")
    with pytest.raises(RuleViolation, match="The bank is frozen"):
        release.decide(db, "qa1", "EASC-B002", "release", "review", password=pw("qa1"))
    released = review(db, "EASC-B001").to_dict()
    assert released["status"] == "released" and all(c["met"] for c in released["checklist"])


@pytest.mark.requirement("GMP-08")
@pytest.mark.requirement("GMP-23")
def test_a_correction_of_the_bag_meets_the_fill_rules_and_the_dose_is_never_typed(demo_db):
    from cellbatch.domain.errors import InvalidInput
    from tests.lab import snapshot

    tech2 = who(demo_db, "tech2")
    fill = batch_view(demo_db, RA).to_dict()["fill"]["entry"]
    before = snapshot(demo_db)
    high = batch_view(demo_db, RA).to_dict()["target_window"]["high"]["value"]
    with pytest.raises(InvalidInput, match="--value: .* outside the dose tolerance"):
        correct(
            demo_db, tech2, RA, fill, field="viable_cells", value=f"{high * 1.02} cells", reason="x"
        )
    with pytest.raises(InvalidInput, match="--value: the concentration .* outside the SOP range"):
        correct(demo_db, tech2, RA, fill, field="viable_cells", value="300e6 cells", reason="x")
    with pytest.raises(InvalidInput, match="--value: volume in the bag 5 mL is outside"):
        correct(demo_db, tech2, RA, fill, field="volume", value="5 mL", reason="re-measured")
    with pytest.raises(InvalidInput, match="--test: cell-dose-release is computed by the program"):
        qc.record_qc(demo_db, tech2, RA, test="cell-dose", value="100 %")
    with pytest.raises(InvalidInput, match="computed by the program"):
        qc.record_qc(demo_db, tech2, EB, test="cell-dose-release", value="100 %")
    assert snapshot(demo_db) == before


@pytest.mark.requirement("GMP-08")
def test_a_reactive_marker_puts_an_eligible_donor_back_to_pending_and_blocks_release(demo_db):
    from datetime import date

    from cellbatch.domain.errors import InvalidInput
    from tests.lab import snapshot

    donor = batch_view(demo_db, RA).to_dict()["donor"]["code"]
    assert review(demo_db, RA).to_dict()["ready_for_release"]
    donors.record_donor_test(
        demo_db,
        who(demo_db, "tech1"),
        donor,
        marker="HIV-1 NAT",
        result="reactive",
        sampled=date.today(),
    )
    assert donor_view(demo_db, donor).eligibility == "pending"
    data = review(demo_db, RA).to_dict()
    (criterion,) = [c for c in data["checklist"] if c["id"] == "donor-determined"]
    assert not criterion["met"] and "reactive: HIV-1 NAT" in criterion["detail"]
    assert not data["ready_for_release"]
    before = snapshot(demo_db)
    with pytest.raises(InvalidInput, match="--status: donor .* reactive HIV-1 NAT .* not eligible"):
        donors.set_eligibility(demo_db, who(demo_db, "sup1"), donor, "eligible")
    assert snapshot(demo_db) == before
    with pytest.raises(RuleViolation, match="Donor eligibility"):
        release.decide(demo_db, who(demo_db, "qa1"), RA, "release", "ok", password=pw("qa1"))
    entries = list_entries(demo_db, entity="donor")
    assert any(
        e.field == "eligibility" and "reactive HIV-1 NAT" in (e.reason or "") for e in entries
    )


@pytest.mark.requirement("GMP-34")
def test_the_review_of_a_released_dose_says_when_it_was_decided(cli, demo_db):
    """The demo's EASC-D000 was released six days ago; its bag expired hours after. Its
    review computes the checklist now (the bag reads expired) but says the batch was released
    and when, never 'NOT ready for release'; the checklist kept with the decision (all met) is
    the batch record's."""
    from cellbatch.services.queries.documents import record_data
    from cellbatch.services.queries.review import review

    r = review(demo_db, "EASC-D000")
    assert r.status == "released" and r.checklist_decided_at is not None
    assert not r.criterion("bag-in-date").met and not r.ready_for_release
    out = cli("--db", demo_db.url, "review", "EASC-D000", user="qa1")
    assert out.code == 0, out.err
    assert f"as it stands now (released on {r.checklist_decided_at};" in out.out
    assert "NOT ready for release" not in out.out
    assert f"Released on {r.checklist_decided_at}: decided and locked." in out.out
    kept = record_data(demo_db, "EASC-D000")
    assert kept.release_checklist_decided_at == r.checklist_decided_at
    assert all(c.met for c in kept.release_checklist)
    assert review(demo_db, "EASC-D001").checklist_decided_at is None  # not decided
