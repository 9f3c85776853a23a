"""Time order (issue 11): a QC result is not dated before the step whose cells it tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cellbatch.domain.errors import InvalidInput
from cellbatch.domain.steps import Prior
from cellbatch.domain.steps.sampling import tested_step as sample_of
from cellbatch.services.commands import qc, steps
from tests.lab import snapshot
from tests.test_corrections import ago, who
from tests.test_corrections import bank as bank  # the fixture

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
