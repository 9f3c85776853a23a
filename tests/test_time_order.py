"""Time order (issue 11): a QC result is not dated before the step whose cells it tests; a
dose's vials are not thawed before QA released their bank (record, correction, command line,
on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from cellbatch.db.tables import Batch
from cellbatch.domain.errors import InvalidInput
from cellbatch.domain.steps import Prior
from cellbatch.domain.steps.sampling import tested_step as sample_of
from cellbatch.domain.timeparse import as_utc
from cellbatch.services.commands import batches, corrections, qc, steps
from cellbatch.services.queries.batch_view import batch_view
from tests.lab import snapshot
from tests.test_corrections import ago, refused_alike, who
from tests.test_corrections import bank as bank  # the fixture
from tests.test_tui_workflows import fill_form, log_in, run_async, settle, text_of

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


def entry(n: int, kind: str, hours: float) -> Prior:
    return Prior(f"E{n}", kind, None, {}, T0 + timedelta(hours=hours))


def test_which_step_a_sample_tests():
    bank = [entry(1, "seed", 0), entry(2, "harvest", 100), entry(3, "freeze", 101)]
    assert sample_of("in-process", "expansion", bank).ref == "E2"  # before freezing
    assert sample_of("release", "expansion", bank).ref == "E3"
    dose = [entry(4, "thaw", 0), entry(5, "fucosylation", 2)]
    assert sample_of("in-process", "dose", dose).ref == "E5"
    assert sample_of("release", "dose", []) is None


@pytest.mark.requirement("GMP-08")
def test_a_viability_before_freezing_dated_before_its_harvest_is_refused(bank):
    db, code, _seed = bank
    tech2 = who(db, "tech2")
    harvest = steps.harvest(
        db, tech2, code, total_cells="2.6e7 cells", viability="95 %", confluence="80 %",
        materials=["TRYPLE-3320", "DPBS-88812"], at=ago(days=1),
    )  # fmt: skip
    before = snapshot(db)
    with pytest.raises(
        InvalidInput, match=rf"--at: .* is before E{harvest} \(harvest\), the step whose cells"
    ):
        qc.record_qc(
            db, who(db, "sup1"), code, test="viability", value="93 %", stage="in-process",
            at=ago(days=1, hours=3),
        )  # fmt: skip
    assert snapshot(db) == before
    qc.record_qc(
        db, who(db, "sup1"), code, test="viability", value="93 %", stage="in-process",
        at=ago(hours=20),
    )  # fmt: skip


def test_a_freeze_typed_for_the_minute_of_its_harvest_is_refused():
    from pathlib import Path

    from cellbatch.domain.sop import find_sop, load_sops
    from cellbatch.domain.steps import StepContext, kind_of

    sop = find_sop(load_sops(Path(__file__).resolve().parents[1] / "sops"), "SOP-EASC-EXP")
    harvest = Prior("E8", "harvest", 3, {"total_cells": 1.2e9, "viability": 95.0}, T0)
    ctx = StepContext(
        step=sop.step("freeze"), sop_label=sop.label, at=T0, started_at=T0 - timedelta(days=30),
        before=(harvest,), expansion=sop.expansion,
    )  # fmt: skip
    values = {"vials": 2, "cells_per_vial": 50e6, "volume_per_vial": 1.5, "location": "LN2 1"}
    out = kind_of("freeze").check(values, ctx)
    assert out.refusals[0].option == "--at"
    assert "is the time of E8 (harvest): steps of a batch are done one after the other" in (
        out.refusals[0].message
    )
    later = StepContext(**{**ctx.__dict__, "at": T0 + timedelta(minutes=1)})
    assert kind_of("freeze").check(values, later).ok


@pytest.mark.requirement("GMP-08")
def test_a_passage_seeded_at_the_time_of_the_harvest_before_it_is_refused(bank):
    db, code, _seed = bank
    tech2 = who(db, "tech2")
    typed = ago(days=1).replace(second=0, microsecond=0)
    harvest = steps.harvest(
        db, tech2, code, total_cells="2.6e7 cells", viability="95 %", confluence="80 %",
        materials=["TRYPLE-3320", "DPBS-88812"], at=typed,
    )  # fmt: skip
    before = snapshot(db)
    with pytest.raises(InvalidInput, match=rf"--at: .* is the time of E{harvest} \(harvest\)"):
        steps.seed(
            db, tech2, code, vessel="CS5", vessels=2, cells="1.9e7 cells",
            materials=["AMEM-24K118", "HPL-2611-07", "TRYPLE-3320"], at=typed,
        )  # fmt: skip
    assert snapshot(db) == before


def test_a_thaw_before_its_bank_was_released_is_refused_by_the_rule():
    from pathlib import Path

    from cellbatch.domain.sop import find_sop, load_sops
    from cellbatch.domain.steps import StepContext, kind_of

    sop = find_sop(load_sops(Path(__file__).resolve().parents[1] / "sops"), "SOP-EASC-DOSE")
    released = T0 + timedelta(minutes=30, seconds=40)
    ctx = StepContext(
        step=sop.step("thaw"), sop_label=sop.label, at=T0, started_at=T0 - timedelta(hours=1),
        dose=sop.dose, stock=(1, 2, 3), parent_released_at=released, parent_code="BANK-7",
    )  # fmt: skip
    values = {"vials": 2, "total_cells": 1.5e8, "viability": 90.0}
    out = kind_of("thaw").check(values, ctx)
    assert out.refusals[0].option == "--at"
    assert out.refusals[0].message.startswith(
        "2026-06-01 08:00 UTC is before bank BANK-7 was released (2026-06-01 08:30 UTC)"
    )
    same_minute = StepContext(**{**ctx.__dict__, "at": T0 + timedelta(minutes=30)})
    assert kind_of("thaw").check(values, same_minute).ok  # typed to the minute of the release
    unreleased = StepContext(**{**ctx.__dict__, "parent_released_at": None})
    assert kind_of("thaw").check(values, unreleased).ok


def bank_released_at(db, code: str = "EASC-B001") -> datetime:
    """When QA released the demo's bank (its release decision)."""
    [decided] = [d for d in batch_view(db, code).release_decisions if d.decision == "release"]
    return as_utc(datetime.fromisoformat(decided.decided_at.replace("Z", "+00:00")))


def dose_started_before_release(db, code: str, infusion: int, released: datetime) -> str:
    """A dose batch of the demo's eASC bank, started (backdated) before the bank's release
    (refused since batches.start_dose holds a start to the release)."""
    batches.start_dose(
        db, who(db, "tech1"), code, parent="EASC-B001", sop_id="SOP-EASC-DOSE",
        recipient="RA-P001", weight="70 kg", dose="2 x 10^6 cells/kg", infusion=infusion,
        at=released - timedelta(hours=3),
    )  # fmt: skip
    return code


def legacy_dose_started_before_release(db, code: str, infusion: int, released: datetime) -> str:
    """A dose batch of the demo's eASC bank whose start lies before the bank's release: one
    started before the start was held to the release (started in the release's minute, then
    its start set three hours back in the database), so the thaw's own rule is what refuses."""
    batches.start_dose(
        db, who(db, "tech1"), code, parent="EASC-B001", sop_id="SOP-EASC-DOSE",
        recipient="RA-P001", weight="70 kg", dose="2 x 10^6 cells/kg", infusion=infusion,
        at=released.replace(second=0, microsecond=0),
    )  # fmt: skip
    with db.write_session() as session:
        session.execute(
            update(Batch).where(Batch.code == code).values(started_at=released - timedelta(hours=3))
        )
        session.commit()
    return code


def typed(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M")


@pytest.mark.requirement("GMP-08")
def test_a_dose_thawed_before_its_bank_was_released_is_refused(demo_db, cli):
    db = demo_db
    released = bank_released_at(db)
    code = legacy_dose_started_before_release(db, "EASC-D009", 2, released)
    early = released - timedelta(hours=1)
    before = snapshot(db)
    with pytest.raises(InvalidInput) as refused:
        steps.thaw(
            db, who(db, "tech1"), code, vials=3, total_cells="1.6e8 cells", viability="92 %",
            materials=["DPBS-88812"], at=early,
        )  # fmt: skip
    assert refused.value.field == "--at"
    assert (
        f"{early:%Y-%m-%d %H:%M} UTC is before bank EASC-B001 was released "
        f"({released:%Y-%m-%d %H:%M} UTC)" in refused.value.message
    )
    done = cli(
        "--db", db.url, "vial", "thaw", code, "--vials", "3", "--cells", "1.6e8 cells",
        "--viability", "92 %", "--material", "DPBS-88812", "--at", typed(early), user="tech1",
    )  # fmt: skip
    assert done.code == 2, done
    assert "--at" in done.err and "before bank EASC-B001 was released" in done.err
    assert "Traceback" not in done.err
    assert snapshot(db) == before
    steps.thaw(  # thawed after the release: recorded
        db, who(db, "tech1"), code, vials=3, total_cells="1.6e8 cells", viability="92 %",
        materials=["DPBS-88812"], at=released + timedelta(minutes=1),
    )  # fmt: skip


@pytest.mark.requirement("GMP-08")
def test_a_thaw_corrected_to_before_its_bank_was_released_is_refused_alike(demo_db):
    db = demo_db
    released = bank_released_at(db)
    thawed = legacy_dose_started_before_release(db, "EASC-D009", 2, released)
    thaw = steps.thaw(
        db, who(db, "tech1"), thawed, vials=2, total_cells="1.6e8 cells", viability="92 %",
        materials=["DPBS-88812"], at=released + timedelta(hours=1),
    )  # fmt: skip
    fresh = legacy_dose_started_before_release(db, "EASC-D010", 3, released)
    early = (released - timedelta(hours=1)).replace(second=0, microsecond=0)
    message = refused_alike(
        db,
        InvalidInput,
        lambda: steps.thaw(
            db, who(db, "tech1"), fresh, vials=2, total_cells="1.6e8 cells",
            viability="92 %", materials=["DPBS-88812"], at=early,
        ),
        lambda: corrections.correct(
            db, who(db, "tech1"), thawed, f"E{thaw}", field="at", value=typed(early),
            reason="typed the wrong day",
        ),
    )  # fmt: skip
    assert "before bank EASC-B001 was released" in message


@pytest.mark.requirement("GMP-08")
@run_async
async def test_the_entry_form_refuses_a_thaw_before_the_release_at_its_time_field(demo_db):
    from textual.widgets import Button

    from cellbatch.tui.app import build_app

    db = demo_db
    released = bank_released_at(db)
    code = legacy_dose_started_before_release(db, "EASC-D009", 2, released)
    early = released - timedelta(hours=1)
    app = build_app(db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(100, 40)) as pilot:
        await log_in(app, pilot, "tech1")
        app.open_batch(code)
        await settle(app, pilot)
        await pilot.press("f2")
        await settle(app, pilot)
        assert app.screen.form.kind == "thaw"
        await fill_form(
            app,
            pilot,
            {
                "vials": "2",
                "total_cells": "1.2e8 cells",
                "viability": "88 %",
                "lot_wash-solution": "DPBS-88812",
                "at": early.isoformat(timespec="minutes"),
            },
        )
        assert not app.screen.query_one("#save", Button).disabled
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        error = text_of(app, "#form-error")
        assert error.startswith("✗ Not saved: Done at: "), error
        assert "before bank EASC-B001 was released" in error and "--at" not in error
    assert batch_view(db, code).dose.thaw is None


@pytest.mark.requirement("GMP-08")
def test_a_step_corrected_to_the_time_of_the_step_after_it_is_refused(demo_db, cli):
    """Strict order holds through a correction: a thaw moved onto its fill's time is refused
    as a fill recorded at the thaw's time would be (it was accepted: only 'after' was checked)."""
    db = demo_db
    view = batch_view(db, "EASC-D001")
    [thaw] = [s for s in view.steps if s.kind == "thaw"]
    [fill] = [s for s in view.steps if s.kind == "fill"]
    filled = fill.performed_at
    before = snapshot(db)
    with pytest.raises(InvalidInput) as refused:
        corrections.correct(
            db, who(db, "tech2"), "EASC-D001", thaw.id, field="at", value=filled,
            reason="typed the wrong time",
        )  # fmt: skip
    assert refused.value.field == "--value"
    assert f"is the time of {fill.id} (fill)" in refused.value.message
    done = cli(
        "--db", db.url, "correct", "EASC-D001", thaw.id, "--field", "at", "--value", filled,
        "--was", thaw.performed_at, "--reason", "typed the wrong time", user="tech2",
    )  # fmt: skip
    assert done.code == 2, done
    assert f"is the time of {fill.id} (fill)" in done.err and "Traceback" not in done.err
    assert snapshot(db) == before


@pytest.mark.requirement("GMP-08")
def test_a_dose_started_before_its_bank_was_released_is_refused(demo_db, cli):
    """A dose batch is made only from a released bank, at the time it says it was started:
    a start dated before the bank's release minute is refused (it was accepted, the bank
    being released when the command ran)."""
    db = demo_db
    released = bank_released_at(db)
    early = (released - timedelta(hours=3)).replace(second=0, microsecond=0)
    before = snapshot(db)
    with pytest.raises(InvalidInput) as refused:
        dose_started_before_release(db, "EASC-D009", 2, released)
    assert refused.value.field == "--at"
    assert (
        f"{early:%Y-%m-%d %H:%M} UTC is before bank EASC-B001 was released "
        f"({released:%Y-%m-%d %H:%M} UTC)" in refused.value.message
    )
    done = cli(
        "--db", db.url, "batch", "start", "EASC-D009", "--sop", "SOP-EASC-DOSE", "--parent",
        "EASC-B001", "--recipient", "RA-P001", "--weight", "70 kg", "--infusion", "2",
        "--at", typed(early), user="tech1",
    )  # fmt: skip
    assert done.code == 2, done
    assert "--at" in done.err and "before bank EASC-B001 was released" in done.err
    assert "Traceback" not in done.err
    assert snapshot(db) == before
    batches.start_dose(  # started in the minute of the release: accepted, as a thaw would be
        db, who(db, "tech1"), "EASC-D009", parent="EASC-B001", sop_id="SOP-EASC-DOSE",
        recipient="RA-P001", weight="70 kg", dose="2 x 10^6 cells/kg", infusion=2,
        at=released.replace(second=0, microsecond=0),
    )  # fmt: skip


@pytest.mark.requirement("GMP-08")
@pytest.mark.parametrize("bank", ["EASC-B001", "BMMSC-B001"])
def test_the_demo_banks_results_are_not_late_results_of_their_told_release(demo_db, bank):
    """The demo tells its banks' release decisions at the story's time (told_time): the QC
    results QA released on are recorded before that time, so none is marked a late result
    and the release signature covers them all (they were all 'recorded after the release')."""
    view = batch_view(demo_db, bank)
    assert view.qc and [q.id for q in view.qc if q.after_release] == []
    released = bank_released_at(demo_db, bank)
    assert all(
        as_utc(datetime.fromisoformat(q.recorded_at.replace("Z", "+00:00"))) <= released
        for q in view.qc
    )
