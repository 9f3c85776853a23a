"""A corrected work time carries what runs from it and keeps the record's order in time
(issue 11): it stays before the QC results that test the step's cells, a fucosylation's time
moves its incubation end with it, and the bag's expiry follows the time it runs from; the
cell-dose result the fill computes is corrected through the fill only. On
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from cellbatch.db.tables import Bag, Batch
from cellbatch.domain.errors import InvalidInput
from cellbatch.domain.timeparse import as_utc
from cellbatch.services.auth import authenticate
from cellbatch.services.commands import batches, corrections, qc, steps
from cellbatch.services.queries.batch_view import batch_view
from tests.lab import snapshot


def who(db, name: str):
    return authenticate(db, name, f"demo-{name}-pass")


def ago(days: float = 0, hours: float = 0) -> datetime:
    return datetime.now(UTC) - timedelta(days=days, hours=hours)


def typed(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M")


def step_of(db, code: str, kind: str) -> dict:
    return next(e for e in batch_view(db, code).to_dict()["steps"] if e["kind"] == kind)


def qc_of(db, code: str, qc_id: str) -> dict:
    return next(q for q in batch_view(db, code).to_dict()["qc"] if q["qc_id"] == qc_id)


def when(text: str) -> datetime:
    return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


def bag_expiry(db, code: str) -> datetime:
    with db.session() as session:
        bag = session.execute(
            select(Bag).join(Batch, Bag.batch_id == Batch.id).where(Batch.code == code)
        ).scalar_one()
        return as_utc(bag.expires_at).replace(microsecond=0)  # as the batch view shows times


@pytest.mark.requirement("GMP-08")
def test_a_harvest_time_corrected_past_the_qc_that_tests_it_is_refused(demo_db):
    db = demo_db
    tech2 = who(db, "tech2")
    batches.start_expansion(
        db, tech2, "BMMSC-C001", lot_number="TL-BM-0001", sop_id="SOP-BMMSC-EXP", at=ago(days=3)
    )
    steps.seed(
        db, tech2, "BMMSC-C001", vessel="CS1", vessels=1, cells="1.0e7 cells",
        materials=["AMEM-24K118", "HPL-2611-07", "TRYPLE-3320"], at=ago(days=2),
    )  # fmt: skip
    harvest = steps.harvest(
        db, tech2, "BMMSC-C001", total_cells="2.6e7 cells", viability="95 %",
        confluence="80 %", materials=["TRYPLE-3320", "DPBS-88812"], at=ago(days=1),
    )  # fmt: skip
    qc.record_qc(
        db, who(db, "sup1"), "BMMSC-C001", test="viability", value="93 %", stage="in-process",
        at=ago(hours=20),
    )  # fmt: skip
    result = qc_of(db, "BMMSC-C001", "viability-in-process")
    before = snapshot(db)
    with pytest.raises(InvalidInput) as refused:
        corrections.correct(
            db, tech2, "BMMSC-C001", f"E{harvest}", field="at", value=typed(ago(hours=10)),
            was=typed(ago(days=1)), reason="time typed wrong",
        )  # fmt: skip
    assert refused.value.field == "--value"
    assert f"is after {result['id']} " in refused.value.message
    assert "a result is not dated before the step it tests" in refused.value.message
    assert snapshot(db) == before
    corrections.correct(
        db, tech2, "BMMSC-C001", f"E{harvest}", field="at", value=typed(ago(hours=21)),
        was=typed(ago(days=1)), reason="time typed wrong",
    )  # fmt: skip


@pytest.mark.requirement("GMP-08")
def test_a_fucosylation_time_corrected_moves_its_end_and_stays_before_its_qc(demo_db):
    db = demo_db
    fuc = step_of(db, "FUC-D001", "fucosylation")
    end = when(fuc["values"]["end"])
    viability = qc_of(db, "FUC-D001", "viability-in-process")
    assert when(viability["performed_at"]) - end == timedelta(minutes=5)  # the demo's times
    before = snapshot(db)
    with pytest.raises(InvalidInput) as refused:
        corrections.correct(
            db, who(db, "tech2"), "FUC-D001", fuc["id"], field="at",
            value=typed(end + timedelta(minutes=8)), was=typed(end), reason="time typed wrong",
        )  # fmt: skip
    assert f"is after {viability['id']} " in refused.value.message
    assert snapshot(db) == before

    moved = (end + timedelta(minutes=3)).replace(second=0, microsecond=0)
    corrections.correct(
        db, who(db, "tech2"), "FUC-D001", fuc["id"], field="at", value=typed(moved),
        was=typed(end), reason="the incubation ended later",
    )  # fmt: skip
    now = step_of(db, "FUC-D001", "fucosylation")
    assert when(now["performed_at"]) == moved
    assert when(now["values"]["end"]) == moved  # the end moved with the step's time
    assert now["values"]["start"] == fuc["values"]["start"]


@pytest.mark.requirement("GMP-08")
def test_a_fill_time_corrected_moves_the_bags_expiry(demo_db):
    db = demo_db
    fill = step_of(db, "EASC-D001", "fill")
    at = when(fill["performed_at"])
    assert bag_expiry(db, "EASC-D001") == at + timedelta(hours=4)  # SOP-EASC-DOSE: 4 h
    earlier = (at - timedelta(minutes=10)).replace(second=0, microsecond=0)
    corrections.correct(
        db, who(db, "tech1"), "EASC-D001", fill["id"], field="at", value=typed(earlier),
        was=typed(at), reason="filled earlier than typed",
    )  # fmt: skip
    assert bag_expiry(db, "EASC-D001") == earlier + timedelta(hours=4)


@pytest.mark.requirement("GMP-08")
def test_the_computed_cell_dose_result_is_not_corrected_by_hand(demo_db):
    db = demo_db
    dose = qc_of(db, "EASC-D001", "cell-dose-release")
    before = snapshot(db)
    with pytest.raises(InvalidInput) as refused:
        corrections.correct(
            db, who(db, "qa1"), "EASC-D001", dose["id"], field="value", value="100 %",
            reason="looks low",
        )  # fmt: skip
    assert refused.value.field == "--field"
    assert "computed by the program from the bag's fill" in refused.value.message
    assert snapshot(db) == before
