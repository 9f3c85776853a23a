"""Post-release holds: new donor information holds every product from the donor (GMP-29).

Issue 10, point 7: a reactive donor result after release changed nothing (the batch stayed
released, the release signature valid, a reprint gave a FINAL label with HIV warnings).
"""

from __future__ import annotations

from datetime import date

import pytest

from cellbatch.domain.errors import PermissionDenied, RuleViolation
from cellbatch.services.auth import authenticate
from cellbatch.services.commands import batches, deviations, donors, holds, labels
from cellbatch.services.queries.holds import hold_view, hold_views, is_held
from cellbatch.services.queries.review import review
from cellbatch.services.queries.signatures import batch_signatures

GMP29 = pytest.mark.requirement("GMP-29")


def user(db, name: str):
    return authenticate(db, name, f"demo-{name}-pass")


def release(db, code: str) -> None:
    """Second-person verification of every entry, then release by an uninvolved QA officer."""
    from cellbatch.services.commands import release as decide
    from cellbatch.services.commands.verification import verify
    from cellbatch.services.queries.verification import verification_status

    tech2 = user(db, "tech2")
    for state in verification_status(db, code):
        if state.status in ("pending", "invalid"):
            who = "tech2" if state.recorded_by != tech2.id else "tech1"
            verify(db, who, f"demo-{who}-pass", code, state.ref)
    decide.decide(db, "qa1", code, "release", "holds test", password="demo-qa1-pass")


def release_signature(db, code: str):
    return [s for s in batch_signatures(db, code) if s.meaning == "released"][-1]


def close(db, dev: str) -> None:
    """sup1 investigates, qa2 (who wrote none of it) closes."""
    deviations.update_deviation(
        db,
        user(db, "sup1"),
        dev,
        classification="major",
        investigation="donor re-tested; look-back of every recipient done",
        root_cause="window-period donation",
        capa="recipients followed up by the clinic",
    )
    deviations.close_deviation(db, "qa2", "demo-qa2-pass", dev)


def printed(db, code: str, **kwargs) -> list:
    return labels.print_labels(db, user(db, "tech1"), code, lambda _labels: b"", **kwargs)


@GMP29
def test_a_reactive_result_after_release_holds_every_product_of_the_donor(demo_db) -> None:
    db = demo_db
    release(db, "EASC-D001")
    (label,) = printed(db, "EASC-D001")  # the final label
    scan = label.barcodes()["datamatrix"]
    assert labels.verify_scans(db, user(db, "tech2"), "EASC-D001", 1, [scan]).ok
    assert release_signature(db, "EASC-D001").valid
    donors.record_donor_test(
        db,
        user(db, "tech1"),
        "DN-2026-0001",
        marker="HIV-1 NAT",
        result="reactive",
        sampled=date.today(),
    )
    # the bank and the dose made from it are held, with their bags; a deviation each
    assert [h.cause for h in is_held(db, "EASC-B001")] == ["donor-result"]
    assert is_held(db, "EASC-D001", bag_number=1)
    (view,) = hold_views(db)
    # RA-P002's EASC-D000, made from the bank and given six days ago, is held with them
    assert sorted(i.batch for i in view.items) == ["EASC-B001", "EASC-D000", "EASC-D001"]
    assert sorted(view.recipients) == ["RA-P001", "RA-P002"]
    assert view.donor == "DN-2026-0001" and "HIV-1 NAT" in view.reason
    assert all(i.deviation_status == "open" for i in view.items)
    assert any(i.bags for i in view.items if i.batch == "EASC-D001")
    # the release is no longer in force: its signature covers a record without the deviation
    assert not release_signature(db, "EASC-D001").valid
    # no label, no reprint, no label accepted at scan, no new dose from the bank
    with pytest.raises(RuleViolation, match="ON HOLD"):
        printed(db, "EASC-D001", reprint=True, reason="smudged", approver=("qa2", "demo-qa2-pass"))
    report = labels.verify_scans(db, user(db, "tech2"), "EASC-D001", 1, [scan])
    assert not report.ok and report.holds and "ON HOLD" in report.summary()
    with pytest.raises(RuleViolation, match="ON HOLD"):
        batches.start_dose(
            db,
            user(db, "tech1"),
            "EASC-D009",
            parent="EASC-B001",
            sop_id="SOP-EASC-DOSE",
            recipient="RA-P001",
            weight="70 kg",
            dose="2 x 10^6 cells/kg",
            infusion=2,
        )
    checklist = {c["id"]: c for c in review(db, "EASC-D001").to_dict()["checklist"]}
    assert not checklist["not-on-hold"]["met"]


@GMP29
def test_only_qa_lifts_a_hold_after_its_deviation_is_closed_with_a_signature(demo_db) -> None:
    db = demo_db
    release(db, "EASC-D001")
    donors.set_eligibility(
        db, user(db, "sup1"), "DN-2026-0001", "pending", "travel history to be assessed"
    )
    (view,) = hold_views(db)
    assert view.cause == "donor-eligibility"
    ref = view.ref
    with pytest.raises(PermissionDenied, match="needs role qa"):
        holds.lift_hold(db, "sup1", "demo-sup1-pass", ref, reason="fine")
    with pytest.raises(RuleViolation, match="is open"):
        holds.lift_hold(db, "qa2", "demo-qa2-pass", ref, reason="fine", batch="EASC-D001")
    dose_dev = next(i.deviation for i in view.items if i.batch == "EASC-D001")
    close(db, dose_dev)
    # qa2 verified an entry of EASC-D001: an involved QA officer may not lift its hold
    with pytest.raises(PermissionDenied, match="may not lift"):
        holds.lift_hold(db, "qa2", "demo-qa2-pass", ref, reason="fine", batch="EASC-D001")
    lifted = holds.lift_hold(
        db,
        "qa1",
        "demo-qa1-pass",
        ref,
        reason="risk assessed: product may be used",
        batch="EASC-D001",
    )
    assert lifted == ["EASC-D001"]
    assert not is_held(db, "EASC-D001") and is_held(db, "EASC-B001")
    assert release_signature(db, "EASC-D001").valid  # released again, signed by qa1
    sigs = batch_signatures(db, "EASC-D001")
    assert any(s.on.startswith("HB") and s.meaning == "approved" and s.valid for s in sigs)
    item = next(i for i in hold_view(db, ref).items if i.batch == "EASC-D001")
    assert item.lifted_by == "qa1" and not item.held
    with pytest.raises(RuleViolation, match="already lifted"):
        holds.lift_hold(db, "qa1", "demo-qa1-pass", ref, reason="again", batch="EASC-D001")


@GMP29
def test_hold_commands_list_check_and_lift(demo_db, cli) -> None:
    db = demo_db
    url = str(db.engine.url.render_as_string(hide_password=False))
    donors.record_donor_test(
        db,
        user(db, "tech1"),
        "DN-2026-0002",
        marker="HCV NAT",
        result="reactive",
        sampled=date.today(),
    )
    listed = cli(
        "--db",
        url,
        "hold",
        "list",
        "--json",
        "--user",
        "qa1",
        "--password-stdin",
        input="demo-qa1-pass\n",
    )
    assert listed.code == 0 and '"EB-P001"' in listed.out and '"BMMSC-B001"' in listed.out
    checked = cli(
        "--db",
        url,
        "hold",
        "check",
        "FUC-D001",
        "--user",
        "tech1",
        "--password-stdin",
        input="demo-tech1-pass\n",
    )
    assert checked.code == 1 and "ON HOLD" in checked.out
    refused = cli(
        "--db",
        url,
        "hold",
        "lift",
        "H999",
        "--reason",
        "x",
        "--user",
        "qa1",
        "--password-stdin",
        input="demo-qa1-pass\n",
    )
    assert refused.code == 3 and "no hold H999" in refused.err
