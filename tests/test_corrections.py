"""Corrections are held to the rules of the step they correct (issue 11) and refuse a stale
value (issue 17 point 12): each refusal carries the message the step itself gives, changes
nothing, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cellbatch.domain.errors import InvalidInput, RuleViolation
from cellbatch.services.auth import authenticate
from cellbatch.services.commands import batches, corrections, steps
from cellbatch.services.queries.batch_view import batch_view
from tests.lab import snapshot

SEED_LOTS = ["AMEM-24K118", "HPL-2611-07", "TRYPLE-3320"]


def ago(days: float = 0, hours: float = 0, minutes: float = 0) -> datetime:
    return datetime.now(UTC) - timedelta(days=days, hours=hours, minutes=minutes)


def who(db, name: str):
    return authenticate(db, name, f"demo-{name}-pass")


def refused_alike(db, error, step, correction) -> str:
    """The step and the correction are refused with the same message; nothing changes."""
    before = snapshot(db)
    with pytest.raises(error) as by_step:
        step()
    with pytest.raises(error) as by_correction:
        correction()
    assert snapshot(db) == before
    if isinstance(by_step.value, InvalidInput):
        assert by_correction.value.field == "--value"
        assert by_correction.value.message == by_step.value.message
        return by_step.value.message
    return str(by_step.value)


@pytest.fixture
def dose(demo_db):
    """A second eASC dose for the demo's recipient, three vials thawed: (db, code, thaw)."""
    db = demo_db
    tech1 = who(db, "tech1")
    batches.start_dose(
        db, tech1, "EASC-D009", parent="EASC-B001", sop_id="SOP-EASC-DOSE", recipient="RA-P001",
        weight="70 kg", dose="2 x 10^6 cells/kg", infusion=2, at=ago(hours=2),
    )  # fmt: skip
    entry = steps.thaw(
        db, tech1, "EASC-D009", vials=3, total_cells="1.6e8 cells", viability="92 %",
        materials=["DPBS-88812"], at=ago(hours=1),
    )  # fmt: skip
    return db, "EASC-D009", entry


@pytest.fixture
def bank(demo_db):
    """A new BM-MSC culture seeded at P0 from the demo's marrow lot: (db, code, seed)."""
    db = demo_db
    tech2 = who(db, "tech2")
    batches.start_expansion(
        db, tech2, "BMMSC-C001", lot_number="TL-BM-0001", sop_id="SOP-BMMSC-EXP", at=ago(days=3)
    )
    entry = steps.seed(
        db, tech2, "BMMSC-C001", vessel="CS1", vessels=1, cells="1.0e7 cells",
        materials=SEED_LOTS, at=ago(days=2),
    )  # fmt: skip
    return db, "BMMSC-C001", entry


def fresh_dose(db, code: str = "EASC-D010") -> str:
    """Another dose batch of the demo's eASC bank, its thaw still to come."""
    batches.start_dose(
        db, who(db, "tech1"), code, parent="EASC-B001", sop_id="SOP-EASC-DOSE",
        recipient="RA-P001", weight="70 kg", dose="2 x 10^6 cells/kg", infusion=3,
        at=ago(hours=2),
    )  # fmt: skip
    return code


def fresh_culture(db, code: str = "BMMSC-C002") -> str:
    """Another culture of the demo's marrow lot, its first seed still to come."""
    batches.start_expansion(
        db, who(db, "tech1"), code, lot_number="TL-BM-0001", sop_id="SOP-BMMSC-EXP",
        at=ago(days=3),
    )  # fmt: skip
    return code


def vials_in_stock(db) -> list[int]:
    bank = batch_view(db, "EASC-B001").to_dict()
    return [v["number"] for v in bank["vials"] if v["status"] == "in stock"]


@pytest.mark.requirement("GMP-23")
def test_a_thaw_corrected_below_the_sop_minimum_is_refused_like_the_thaw(dose):
    db, code, entry = dose
    tech2 = who(db, "tech2")
    other = fresh_dose(db)
    message = refused_alike(
        db,
        InvalidInput,
        lambda: steps.thaw(
            db,
            tech2,
            other,
            vials=1,
            total_cells="0.2e6 cells",
            viability="90 %",
            materials=["DPBS-88812"],
        ),  # fmt: skip
        lambda: corrections.correct(
            db,
            tech2,
            code,
            f"E{entry}",
            field="total_cells",
            value="0.2e6 cells",
            reason="recount",
            was="1.6e8 cells",
        ),  # fmt: skip
    )
    assert "outside the SOP range ≥ 1 ×10⁶ cells" in message


@pytest.mark.requirement("GMP-23")
def test_a_seed_corrected_to_a_hundred_times_the_cells_is_refused_by_its_seeding_density(bank):
    db, code, entry = bank
    tech1 = who(db, "tech1")
    fresh = fresh_culture(db)
    message = refused_alike(
        db,
        InvalidInput,
        lambda: steps.seed(
            db,
            tech1,
            fresh,
            vessel="CS1",
            vessels=1,
            cells="1.0e9 cells",
            materials=SEED_LOTS,
            at=ago(days=2),
        ),  # fmt: skip
        lambda: corrections.correct(
            db,
            tech1,
            code,
            f"E{entry}",
            field="viable_cells",
            value="1.0e9 cells",
            reason="typo",
            was="1.0e7 cells",
        ),  # fmt: skip
    )
    assert message.startswith("the seeding density 1572327 cells/cm² is outside the SOP range")


@pytest.mark.parametrize("vessel", ["T999", "not-a-vessel"])
def test_a_seed_corrected_to_a_vessel_the_sop_does_not_allow_is_refused(bank, vessel):
    db, code, entry = bank
    tech1 = who(db, "tech1")
    fresh = fresh_culture(db)
    message = refused_alike(
        db,
        InvalidInput,
        lambda: steps.seed(
            db,
            tech1,
            fresh,
            vessel=vessel,
            vessels=1,
            cells="1.0e6 cells",
            materials=SEED_LOTS,
        ),  # fmt: skip
        lambda: corrections.correct(
            db, tech1, code, f"E{entry}", field="vessel", value=vessel, reason="typo", was="CS1"
        ),
    )
    assert f"got {vessel.upper()!r}" in message
    passage = batch_view(db, code).to_dict()["passages"][0]
    assert passage["seeding_density"] is not None and passage["vessel"] == "CS1"


@pytest.mark.requirement("GMP-08")
def test_a_thaw_corrected_from_three_vials_to_one_returns_two_to_stock(dose):
    db, code, entry = dose
    thawed = [
        v["number"]
        for v in batch_view(db, "EASC-B001").to_dict()["vials"]
        if v.get("thawed_for") == code
    ]
    assert len(thawed) == 3
    stock = vials_in_stock(db)
    corrections.correct(
        db, who(db, "tech2"), code, f"E{entry}", field="vials", value="1",
        reason="two vials went back unopened", was="3",
    )  # fmt: skip
    (step,) = batch_view(db, code).to_dict()["steps"]
    assert step["values"]["vials"] == 1 and isinstance(step["values"]["vials"], int)
    assert step["values"]["vial_numbers"] == thawed[:1]
    assert sorted(vials_in_stock(db)) == sorted(stock + thawed[1:])
    (fix,) = batch_view(db, code).to_dict()["corrections"]
    assert (fix["old_value"], fix["new_value"]) == ("3", "1")


def test_a_thaw_corrected_to_more_vials_than_remain_is_refused_like_the_thaw(dose):
    db, code, entry = dose
    tech2 = who(db, "tech2")
    other = fresh_dose(db)
    left = len(vials_in_stock(db))
    steps.thaw(
        db, tech2, other, vials=left - 3, total_cells="4e8 cells", viability="90 %",
        materials=["DPBS-88812"],
    )  # fmt: skip
    before = snapshot(db)
    with pytest.raises(RuleViolation, match="--vials: 7 vials asked for, but only 6 remain"):
        corrections.correct(
            db, tech2, code, f"E{entry}", field="vials", value="7", reason="miscounted", was="3"
        )
    assert snapshot(db) == before


@pytest.mark.requirement("GMP-06")
def test_a_correction_that_changes_nothing_is_refused(dose):
    db, code, entry = dose
    before = snapshot(db)
    with pytest.raises(InvalidInput, match="--value: .* is the value already recorded"):
        corrections.correct(
            db, who(db, "tech2"), code, f"E{entry}", field="viability", value="92.0 %",
            reason="same", was="92 %",
        )  # fmt: skip
    assert snapshot(db) == before


def test_a_correction_from_a_stale_screen_is_refused(dose):
    db, code, entry = dose
    tech1, tech2 = who(db, "tech1"), who(db, "tech2")
    corrections.correct(
        db, tech1, code, f"E{entry}", field="viability", value="91 %", reason="recount",
        was="92 %",
    )  # fmt: skip
    before = snapshot(db)
    with pytest.raises(RuleViolation, match="viability is now 91 %, not '92 %'"):
        corrections.correct(
            db, tech2, code, f"E{entry}", field="viability", value="93 %", reason="recount",
            was="92 %",
        )  # fmt: skip
    assert snapshot(db) == before


def test_the_cli_sends_the_value_it_replaces(dose, cli):
    db, code, entry = dose
    args = ("--db", db.url, "correct", code, f"E{entry}", "--field", "viability")
    stale = cli(*args, "--value", "93 %", "--was", "90 %", "--reason", "recount", user="tech2")
    assert stale.code == 4 and "now 92 %, not '90 %'" in stale.err
    missing = cli(*args, "--value", "93 %", "--reason", "recount", user="tech2")
    assert missing.code == 2 and "--was" in missing.err
    done = cli(*args, "--value", "93 %", "--was", "92 %", "--reason", "recount", user="tech2")
    assert done.code == 0, done.err


def test_a_correction_that_would_break_a_later_entry_is_refused(bank):
    db, code, entry = bank
    tech2 = who(db, "tech2")
    steps.harvest(
        db, tech2, code, total_cells="2.6e7 cells", viability="95 %", confluence="80 %",
        materials=["TRYPLE-3320", "DPBS-88812"], at=ago(days=1),
    )  # fmt: skip
    steps.seed(
        db, tech2, code, vessel="CS5", vessels=2, cells="1.9e7 cells", materials=SEED_LOTS,
        at=ago(hours=20),
    )  # fmt: skip
    harvest = batch_view(db, code).to_dict()["steps"][1]["id"]
    before = snapshot(db)
    with pytest.raises(RuleViolation, match=r"would break E\d+ \(seed\).* more than the viable"):
        corrections.correct(
            db, tech2, code, harvest, field="total_cells", value="1.5e7 cells",
            reason="recount", was="2.6e7 cells",
        )  # fmt: skip
    assert snapshot(db) == before
