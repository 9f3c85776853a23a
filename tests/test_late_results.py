"""Results after infusion (issue 12, part 5): a QC test the SOP marks ``result_after_infusion``
(the fucosylated dose's 7-day sterility test) is recorded on the released batch as a late
result; a failing one holds the batch, opens a deviation naming the recipient, and shows on the
home screen of QA and the clinic and in ``review``; a passing one leaves the release in force."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from cellbatch.domain.errors import RuleViolation
from cellbatch.domain.sop import load_sop
from cellbatch.services.commands import qc, release
from cellbatch.services.commands.deviations import close_deviation, update_deviation
from cellbatch.services.commands.verification import verify
from cellbatch.services.queries.batch_view import batch_view
from cellbatch.services.queries.holds import is_held
from cellbatch.services.queries.home import home_data
from cellbatch.services.queries.review import review
from cellbatch.services.queries.verification import verification_status
from tests.test_batch_record import fill_fucosylated_dose
from tests.test_bedside import user
from tests.test_sop import SOPS_DIR, refused, shipped_doc, write
from tests.test_tui_workflows import log_in, run_async, settle, text_of


def test_the_fucosylated_dose_sop_marks_its_sterility_test_a_result_after_infusion():
    sop = load_sop(SOPS_DIR / "SOP-FUC-BMMSC-DOSE_v1.2.toml")
    marked = [t.id for t in sop.qc if t.result_after_infusion]
    assert marked == ["sterility-release"] and sop.status == "approved"
    # the version it replaces is kept as written, unmarked, for the batches made under it
    old = load_sop(SOPS_DIR / "SOP-FUC-BMMSC-DOSE_v1.1.toml")
    assert old.status == "retired" and not any(t.result_after_infusion for t in old.qc)


def test_the_easc_dose_sop_marks_its_sterility_test_a_result_after_infusion_from_1_1():
    sop = load_sop(SOPS_DIR / "SOP-EASC-DOSE_v1.1.toml")
    marked = [t.id for t in sop.qc if t.result_after_infusion]
    assert marked == ["sterility-release"] and sop.status == "approved"
    old = load_sop(SOPS_DIR / "SOP-EASC-DOSE_v1.0.toml")
    assert old.status == "retired" and not any(t.result_after_infusion for t in old.qc)
    # nothing else changed: the same steps and tests, the same values apart from the mark
    assert old.to_dict()["steps"] == sop.to_dict()["steps"]
    assert [q.id for q in old.qc] == [q.id for q in sop.qc]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"required_for_release": True}, "a test required for release cannot have its result"),
        ({"stage": "in-process"}, "only a release test's result comes late"),
    ],
)
def test_only_a_release_test_not_required_for_release_may_come_after_infusion(
    tmp_path: Path, change: dict, message: str
):
    doc = shipped_doc("SOP-EASC-DOSE")
    i = next(j for j, q in enumerate(doc["qc"]) if q["id"] == "sterility-release")
    doc["qc"][i] |= {"result_after_infusion": True, **change}
    error = refused(write(tmp_path, doc))
    assert error.field == f"qc[{i}].result_after_infusion" and message in error.message


def _release_fuc_dose(db) -> None:
    """The demo's FUC-D001 filled, its HECA-452 deviation closed, release QC, verified, released."""
    fill_fucosylated_dose(db)
    sup1 = user(db, "sup1")
    (dev,) = [d for d in review(db, "FUC-D001").deviations if d.status == "open"]
    update_deviation(db, sup1, dev.id, classification="minor", investigation="gating checked",
                     root_cause="control stained weakly", capa="new control lot")  # fmt: skip
    close_deviation(db, "qa2", "demo-qa2-pass", dev.id)
    for test, value in (("heca452-in-process", "62 %"), ("viability-release", "85 %"),
                        ("gram-stain-release", "negative"),
                        ("endotoxin-release", "0.1 EU/mL")):  # fmt: skip
        qc.record_qc(db, sup1, "FUC-D001", test=test, value=value)
    for state in verification_status(db, "FUC-D001"):
        if state.status in ("pending", "invalid"):
            who = "tech2" if state.recorded_by != user(db, "tech2").id else "tech1"
            verify(db, who, f"demo-{who}-pass", "FUC-D001", state.ref)
    assert release.decide(db, "qa1", "FUC-D001", "release", "reviewed",
                          password="demo-qa1-pass") == "released"  # fmt: skip


@pytest.fixture
def released_fuc(demo_db):
    _release_fuc_dose(demo_db)
    return demo_db


def _release_valid(db) -> bool:
    view = batch_view(db, "FUC-D001")
    (released,) = [s for s in view.signatures if s.meaning == "released"]
    return released.valid


def test_a_late_result_is_recorded_on_the_released_batch_only_for_a_marked_test(released_fuc):
    db, tech = released_fuc, user(released_fuc, "tech1")
    with pytest.raises(RuleViolation, match="locked.*result after infusion"):
        qc.record_qc(db, tech, "FUC-D001", test="viability-release", value="80 %")
    ref = qc.record_qc(db, tech, "FUC-D001", test="sterility-release", value="no growth")
    (late,) = [q for q in batch_view(db, "FUC-D001").qc if q.id == f"Q{ref}"]
    assert late.passed
    # a passing late result leaves the release in force and holds nothing
    assert _release_valid(db) and not is_held(db, "FUC-D001")


def test_a_failing_late_sterility_result_holds_opens_a_deviation_and_names_the_recipient(
    released_fuc, cli
):
    db = released_fuc
    r = cli("--db", db.url, "qc", "record", "FUC-D001", "--test", "sterility-release",
            "--value", "growth", user="tech1")  # fmt: skip
    assert r.code == 0, r.err
    assert "EB-P001" in r.out and "ON HOLD" in r.out
    (hold,) = is_held(db, "FUC-D001")
    assert hold.cause == "late-result"
    rev = review(db, "FUC-D001")
    (oos,) = [o for o in rev.out_of_spec if o.name.startswith("Sterility")]
    assert oos.deviations
    opened = [d for d in rev.deviations if d.status == "open"]
    assert any("EB-P001" in d.description and "not infused yet" in d.description for d in opened)
    # the release given before the result is no longer in force until QA lifts the hold
    assert not _release_valid(db)
    out = cli("--db", db.url, "review", "FUC-D001", user="qa1").out
    assert "Sterility" in out and "EB-P001" in out
    # QA's and the clinic's home screens list it
    for who in ("qa1", "clin1"):
        home = home_data(db, user(db, who), date.today())
        assert any(d.batch == "FUC-D001" and "EB-P001" in d.title for d in home.deviations)


@run_async
async def test_the_qc_dialog_of_a_released_batch_takes_the_late_result_at_80x24(released_fuc):
    from textual.widgets import Input, Select

    from cellbatch.tui.app import build_app

    app = build_app(released_fuc.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "tech1")
        await pilot.press(*"FUC-D001", "enter")
        await settle(app, pilot)
        await pilot.press("f3")
        await settle(app, pilot)
        dialog = app.screen
        assert type(dialog).__name__ == "QcDialog"
        assert list(dialog.tests) == ["sterility-release"]  # only what may come late
        assert "Late result (after release)" in str(dialog.query_one(".title").render())
        dialog.query_one("#qc-test", Select).value = "sterility-release"
        dialog.query_one("#qc-value", Input).focus()
        await pilot.press(*"growth")
        await settle(app, pilot)
        assert "ON HOLD" in text_of(app, "#qc-verdict")
        await pilot.press("enter")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "BatchScreen"
    (hold,) = is_held(released_fuc, "FUC-D001")
    assert hold.cause == "late-result" and "EB-P001" in hold.reason


def test_the_batch_record_marks_the_late_result(released_fuc):
    from tests.test_batch_record import record_text, squeeze

    db = released_fuc
    ref = qc.record_qc(db, user(db, "tech1"), "FUC-D001", test="sterility-release", value="growth")
    _, _, text = record_text(db, "FUC-D001")
    assert squeeze(f"Q{ref}") in text
    assert squeeze("late result, recorded after the release") in text
    assert text.count(squeeze("late result, recorded after the release")) == 1


def test_a_second_person_verifies_the_late_result_of_a_locked_batch(released_fuc):
    db = released_fuc
    ref = qc.record_qc(db, user(db, "tech1"), "FUC-D001", test="sterility-release",
                       value="no growth")  # fmt: skip
    (state,) = [s for s in verification_status(db, "FUC-D001") if s.ref == f"Q{ref}"]
    assert state.status == "pending"
    verify(db, "tech2", "demo-tech2-pass", "FUC-D001", f"Q{ref}")
    (state,) = [s for s in verification_status(db, "FUC-D001") if s.ref == f"Q{ref}"]
    assert state.status == "verified"
    assert _release_valid(db)  # a verification signs the result, not the released record
    # anything else of the released batch stays locked
    earlier = next(s.ref for s in verification_status(db, "FUC-D001") if s.ref != f"Q{ref}")
    with pytest.raises(RuleViolation, match="locked"):
        verify(db, "sup1", "demo-sup1-pass", "FUC-D001", earlier)


def test_a_failing_late_result_opens_an_adverse_event_report_for_the_recipient(released_fuc, cli):
    from cellbatch.services.queries.adverse_events import adverse_event_reports

    db = released_fuc
    ref = qc.record_qc(db, user(db, "tech1"), "FUC-D001", test="sterility-release", value="growth")
    (report,) = adverse_event_reports(db, user(db, "qa1"))
    assert (report.ref, report.recipient, report.batch, report.result) == (
        "AE1", "EB-P001", "FUC-D001", f"Q{ref}",
    )  # fmt: skip
    assert report.status == "open" and "not infused yet" in report.description
    out = cli("--db", db.url, "adverse-event", "list", user="clin1")
    assert out.code == 0 and "AE1" in out.out and "EB-P001" in out.out, out.err
    for who in ("qa1", "clin1"):
        home = home_data(db, user(db, who), date.today())
        assert [r.ref for r in home.adverse_events] == ["AE1"]
    # a passing late retest (under the failure's deviation) opens none
    investigation = next(d for d in review(db, "FUC-D001").deviations if d.qc_result == f"Q{ref}")
    qc.record_qc(db, user(db, "tech1"), "FUC-D001", test="sterility-release", value="no growth",
                 deviation=investigation.id)  # fmt: skip
    assert len(adverse_event_reports(db, user(db, "clin1"))) == 1
    refused = cli("--db", db.url, "adverse-event", "list", user="tech1")
    assert refused.code != 0 and "may not read adverse-event reports" in refused.err


@run_async
async def test_the_clinics_and_qas_home_shows_the_open_report_at_80x24(released_fuc):
    from cellbatch.tui.app import build_app

    db = released_fuc
    qc.record_qc(db, user(db, "tech1"), "FUC-D001", test="sterility-release", value="growth")
    for who, shown in (("clin1", True), ("qa1", True), ("tech1", False)):
        app = build_app(db.url, idle_lock_seconds=3600)
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(app, pilot, who)
            table = app.screen.query_one("#adverse")
            assert table.display is shown, who
            if shown:
                assert table.get_row_at(0)[:3] == ["AE1", "EB-P001", "FUC-D001"]
                table.focus()
                await pilot.press("enter")
                await settle(app, pilot)
                assert type(app.screen).__name__ == "AdverseEventScreen"
                await pilot.press("f7")  # the batch's review, from the report
                await settle(app, pilot)
                assert type(app.screen).__name__ == "ReviewScreen"
