"""Process records: SOP-driven steps, unit-checked values, computed values, refusals."""

from __future__ import annotations

import math

import pytest

from cellbatch.domain import dosing, growth
from cellbatch.domain.errors import (
    InvalidInput,
    NotFound,
    PermissionDenied,
    RuleViolation,
)
from cellbatch.services.commands import batches, corrections, qc, release, steps
from cellbatch.services.queries.audit import list_entries
from cellbatch.services.queries.batch_view import batch_view
from tests.lab import (
    HARVEST_LOTS,
    PASSWORD,
    SEED_LOTS,
    ago,
    make_lab,
    release_fully,
    released_easc_bank,
    snapshot,
)


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9)


@pytest.fixture
def lab(db):
    return make_lab(db)


@pytest.fixture
def bank(lab):
    batches.start_expansion(
        lab.db, lab.tech1, "EXP-1", lot_number="TL-A", sop_id="SOP-EASC-EXP", at=ago(days=20)
    )
    return "EXP-1"


def refused(lab, error, match, action):
    """Run ``action``: it must raise ``error`` matching ``match`` and change nothing at all."""
    before = snapshot(lab.db)
    with pytest.raises(error, match=match):
        action()
    assert snapshot(lab.db) == before


# ----------------------------------------------------------------------------- formulas


def test_design_worked_example_70_kg_at_4e6_per_kg():
    target = dosing.dose_target(4e6, 70, 10)
    assert close(target.target_cells, 2.8e8)
    assert close(target.low_cells, 2.52e8) and close(target.high_cells, 3.08e8)
    assert close(dosing.volume_for(target.target_cells, 5e6), 56.0)


def test_growth_formulas():
    assert close(growth.population_doublings(1e6, 8e6), 3.0)
    assert close(growth.doubling_time_hours(72, 1e6, 8e6), 24.0)
    assert growth.doubling_time_hours(72, 1e6, 5e5) is None
    assert close(growth.viable_cells(2e8, 94), 1.88e8)
    assert close(growth.seeding_density(6.36e6, 3180), 2000.0)


@pytest.mark.requirement("GMP-23")
def test_passage_values_computed_by_the_formulas(lab, bank):
    steps.seed(
        lab.db,
        lab.tech1,
        bank,
        vessel="CS5",
        vessels=1,
        cells="6.36 x 10^6 cells",
        materials=SEED_LOTS,
        at=ago(days=19),
    )
    steps.harvest(
        lab.db,
        lab.tech2,
        bank,
        total_cells="5e7 cells",
        viability="90 %",
        confluence="80 %",
        materials=HARVEST_LOTS,
        at=ago(days=13),
    )
    steps.seed(
        lab.db,
        lab.tech1,
        bank,
        vessel="CS10",
        vessels=1,
        cells="1.272e7 cells",
        materials=SEED_LOTS,
        at=ago(days=12),
    )
    steps.harvest(
        lab.db,
        lab.tech2,
        bank,
        total_cells="1.1e8 cells",
        viability="95 %",
        confluence="85 %",
        materials=HARVEST_LOTS,
        at=ago(days=6),
    )
    view = batch_view(lab.db, bank).to_dict()
    p0, p1 = view["passages"]
    assert p0["passage"] == 0 and p1["passage"] == 1
    assert close(p0["area"]["value"], 3180.0)
    assert close(p0["seeding_density"]["value"], 6.36e6 / 3180)
    assert close(p0["viable_cells_harvested"]["value"], 5e7 * 0.90)
    pd0 = math.log2(5e7 * 0.90 / 6.36e6)
    pd1 = math.log2(1.1e8 * 0.95 / 1.272e7)
    assert close(p0["population_doublings"], pd0)
    assert close(p1["population_doublings"], pd1)
    assert close(p1["cumulative_population_doublings"], pd0 + pd1)
    assert close(view["cumulative_population_doublings"], pd0 + pd1)
    assert close(p0["culture_hours"], 144.0)
    assert close(p0["doubling_time_hours"], 144.0 * math.log(2) / math.log(5e7 * 0.9 / 6.36e6))
    assert p0["seeding_density"]["display"] == "2000 cells/cm²"
    assert view["next_steps"] == ["seed"]  # P1 < P3: freezing is not allowed yet


@pytest.mark.requirement("GMP-23")
def test_dose_values_computed_by_the_formulas(lab):
    bank = released_easc_bank(lab)
    batches.start_dose(
        lab.db,
        lab.tech1,
        "DOSE-1",
        parent=bank,
        sop_id="SOP-EASC-DOSE",
        recipient="RA-P002",
        weight="70 kg",
        dose="4 x 10^6 cells/kg",
        infusion=1,
        at=ago(hours=3),
    )
    steps.thaw(
        lab.db,
        lab.tech1,
        "DOSE-1",
        vials=2,
        total_cells="1.0e8 cells",
        viability="90 %",
        materials=["WASH-1"],
        at=ago(hours=2),
    )
    with pytest.raises(InvalidInput, match="outside the dose tolerance"):
        steps.fill(
            lab.db,
            lab.tech1,
            "DOSE-1",
            volume="56 mL",
            cells="2.4e8 cells",
            materials=["EXC-1"],
            at=ago(hours=1),
        )
    steps.fill(
        lab.db,
        lab.tech1,
        "DOSE-1",
        volume="56 mL",
        cells="2.8e8 cells",
        materials=["EXC-1"],
        at=ago(hours=1),
    )
    view = batch_view(lab.db, "DOSE-1").to_dict()
    assert close(view["target_viable_cells"]["value"], 2.8e8)
    assert close(view["target_window"]["low"]["value"], 2.52e8)
    assert close(view["target_window"]["high"]["value"], 3.08e8)
    assert close(view["fill"]["concentration"]["value"], 5e6)
    assert close(view["fill"]["dose_per_kg"]["value"], 4e6)
    assert view["fill"]["within_tolerance"] is True
    assert close(view["thaw"]["viable_cells"]["value"], 9e7)
    assert view["bag"]["din"] == view["din"]
    assert view["bag"]["product_code"].startswith("S")
    dose_qc = next(q for q in view["qc"] if q["test"] == "cell-dose")
    assert close(dose_qc["value"]["value"], 100.0) and dose_qc["passed"]
    bank_view = batch_view(lab.db, bank).to_dict()
    assert bank_view["vials_left"] == 0
    assert {v["thawed_for"] for v in bank_view["vials"]} == {"DOSE-1"}
    assert bank_view["children"] == [{"code": "DOSE-1", "status": "in-process"}]


# ----------------------------------------------------------------------------- refusals


@pytest.mark.requirement("GMP-23")
def test_wrong_dimension_is_refused_and_changes_nothing(lab, bank):
    refused(
        lab,
        InvalidInput,
        r"--cells: expected a cell count.*got a volume",
        lambda: steps.seed(
            lab.db,
            lab.tech1,
            bank,
            vessel="CS5",
            vessels=1,
            cells="5 mL",
            materials=SEED_LOTS,
            at=ago(days=19),
        ),
    )


@pytest.mark.requirement("GMP-23")
def test_viability_above_100_percent_is_refused(lab, bank):
    steps.seed(
        lab.db,
        lab.tech1,
        bank,
        vessel="CS5",
        vessels=1,
        cells="6.36e6 cells",
        materials=SEED_LOTS,
        at=ago(days=19),
    )
    refused(
        lab,
        InvalidInput,
        r"--viability: .*0 and 100",
        lambda: steps.harvest(
            lab.db,
            lab.tech1,
            bank,
            total_cells="5e7 cells",
            viability="120 %",
            materials=HARVEST_LOTS,
            at=ago(days=13),
        ),
    )


@pytest.mark.requirement("GMP-23")
def test_seeding_density_outside_the_sop_range_is_refused(lab, bank):
    refused(
        lab,
        InvalidInput,
        r"--cells: the seeding density 31\.4 cells/cm² is outside.*1000–4000",
        lambda: steps.seed(
            lab.db,
            lab.tech1,
            bank,
            vessel="CS5",
            vessels=1,
            cells="1e5 cells",
            materials=SEED_LOTS,
            at=ago(days=19),
        ),
    )


@pytest.mark.requirement("GMP-08")
def test_steps_out_of_order_are_refused(lab, bank):
    refused(
        lab,
        RuleViolation,
        "harvest cannot be recorded first; the SOP's next step is seed",
        lambda: steps.harvest(
            lab.db,
            lab.tech1,
            bank,
            total_cells="5e7 cells",
            viability="90 %",
            materials=HARVEST_LOTS,
            at=ago(days=13),
        ),
    )
    steps.seed(
        lab.db,
        lab.tech1,
        bank,
        vessel="CS5",
        vessels=1,
        cells="6.36e6 cells",
        materials=SEED_LOTS,
        at=ago(days=19),
    )
    refused(
        lab,
        RuleViolation,
        "freeze cannot be recorded after seed",
        lambda: steps.freeze(
            lab.db,
            lab.tech1,
            bank,
            vials=1,
            cells_per_vial="50e6 cells",
            volume_per_vial="1.5 mL",
            cryoprotectant="CRYO-1",
            location="T1",
            at=ago(days=12),
        ),
    )


@pytest.mark.requirement("GMP-08")
def test_no_fucosylation_before_thaw_and_no_fill_before_fucosylation(lab):
    bank = _released_bm_bank(lab)
    batches.start_dose(
        lab.db,
        lab.tech1,
        "FUC-1",
        parent=bank,
        sop_id="SOP-FUC-BMMSC-DOSE",
        recipient="EB-P001",
        weight="20 kg",
        dose="2e6 cells/kg",
        infusion=1,
        at=ago(hours=3),
    )
    refused(
        lab,
        RuleViolation,
        "fucosylation cannot be recorded first",
        lambda: _fucosylate(lab, "FUC-1", ago(hours=2), ago(hours=1)),
    )
    steps.thaw(
        lab.db,
        lab.tech1,
        "FUC-1",
        vials=2,
        total_cells="5e7 cells",
        viability="90 %",
        materials=["WASH-1"],
        at=ago(hours=2, minutes=30),
    )
    refused(
        lab,
        RuleViolation,
        "fill cannot be recorded after thaw",
        lambda: steps.fill(
            lab.db,
            lab.tech1,
            "FUC-1",
            volume="10 mL",
            cells="4e7 cells",
            materials=["EXC-1"],
            at=ago(hours=2),
        ),
    )


def test_expired_material_lot_is_refused(lab, bank):
    refused(
        lab,
        RuleViolation,
        "SUP-OLD .* expired on",
        lambda: steps.seed(
            lab.db,
            lab.tech1,
            bank,
            vessel="CS5",
            vessels=1,
            cells="6.36e6 cells",
            materials=["MED-1", "SUP-OLD", "DIS-1"],
            at=ago(days=1),
        ),
    )
    # the same lot was still in date three weeks ago: the check is against the work time
    steps.seed(
        lab.db,
        lab.tech1,
        bank,
        vessel="CS5",
        vessels=1,
        cells="6.36e6 cells",
        materials=["MED-1", "SUP-OLD", "DIS-1"],
        at=ago(days=19),
    )


def test_materials_the_sop_lists_must_be_recorded(lab, bank):
    refused(
        lab,
        InvalidInput,
        "--material: the SOP's seed step uses supplement",
        lambda: steps.seed(
            lab.db,
            lab.tech1,
            bank,
            vessel="CS5",
            vessels=1,
            cells="6.36e6 cells",
            materials=["MED-1", "DIS-1"],
            at=ago(days=19),
        ),
    )


def test_draft_sop_is_refused(lab):
    refused(
        lab,
        RuleViolation,
        "v1.1 is draft, not approved",
        lambda: batches.start_expansion(
            lab.db, lab.tech1, "EXP-2", lot_number="TL-A", sop_id="SOP-EASC-EXP", sop_version="1.1"
        ),
    )


def test_dose_outside_tolerance_is_refused(lab):
    bank = released_easc_bank(lab)
    batches.start_dose(
        lab.db,
        lab.tech1,
        "DOSE-1",
        parent=bank,
        sop_id="SOP-EASC-DOSE",
        recipient="RA-P001",
        weight="70 kg",
        dose="1e6 cells/kg",
        infusion=1,
        at=ago(hours=3),
    )
    steps.thaw(
        lab.db,
        lab.tech1,
        "DOSE-1",
        vials=1,
        total_cells="5e7 cells",
        viability="90 %",
        materials=["WASH-1"],
        at=ago(hours=2),
    )
    refused(
        lab,
        InvalidInput,
        r"--cells: 80 ×10⁶ cells viable cells is outside the dose "
        r"tolerance: target 70 ×10⁶ cells ± 10 %",
        lambda: steps.fill(
            lab.db,
            lab.tech1,
            "DOSE-1",
            volume="20 mL",
            cells="8e7 cells",
            materials=["EXC-1"],
            at=ago(hours=1),
        ),
    )


def test_thaw_of_more_vials_than_remain_is_refused(lab):
    bank = released_easc_bank(lab, vials=2)
    batches.start_dose(
        lab.db,
        lab.tech1,
        "DOSE-1",
        parent=bank,
        sop_id="SOP-EASC-DOSE",
        recipient="RA-P001",
        weight="70 kg",
        dose="1e6 cells/kg",
        infusion=1,
        at=ago(hours=3),
    )
    refused(
        lab,
        RuleViolation,
        "3 vials asked for, but only 2 remain",
        lambda: steps.thaw(
            lab.db,
            lab.tech1,
            "DOSE-1",
            vials=3,
            total_cells="5e7 cells",
            viability="90 %",
            materials=["WASH-1"],
            at=ago(hours=2),
        ),
    )


def test_the_same_vial_is_never_thawed_twice(lab):
    bank = released_easc_bank(lab, vials=2)
    for n, code in enumerate(("DOSE-1", "DOSE-2"), start=1):
        batches.start_dose(
            lab.db,
            lab.tech1,
            code,
            parent=bank,
            sop_id="SOP-EASC-DOSE",
            recipient="RA-P001",
            weight="70 kg",
            dose="1e6 cells/kg",
            infusion=n,
            at=ago(hours=3),
        )
    steps.thaw(
        lab.db,
        lab.tech1,
        "DOSE-1",
        vials=1,
        vial_numbers=[2],
        total_cells="5e7 cells",
        viability="90 %",
        materials=["WASH-1"],
        at=ago(hours=2),
    )
    refused(
        lab,
        RuleViolation,
        "vial 2 is not in stock",
        lambda: steps.thaw(
            lab.db,
            lab.tech1,
            "DOSE-2",
            vials=1,
            vial_numbers=[2],
            total_cells="5e7 cells",
            viability="90 %",
            materials=["WASH-1"],
            at=ago(hours=2),
        ),
    )


def test_dose_batch_from_an_unreleased_bank_is_refused(lab, bank):
    refused(
        lab,
        RuleViolation,
        "bank EXP-1 is in-process, not released",
        lambda: batches.start_dose(
            lab.db,
            lab.tech1,
            "DOSE-1",
            parent=bank,
            sop_id="SOP-EASC-DOSE",
            recipient="RA-P001",
            weight="70 kg",
            dose="1e6 cells/kg",
            infusion=1,
        ),
    )


def test_dose_must_be_a_cohort_dose_and_infusion_on_schedule(lab):
    bank = released_easc_bank(lab)
    refused(
        lab,
        InvalidInput,
        "--dose: 3 ×10⁶ cells/kg is not a cohort dose",
        lambda: batches.start_dose(
            lab.db,
            lab.tech1,
            "DOSE-1",
            parent=bank,
            sop_id="SOP-EASC-DOSE",
            recipient="RA-P001",
            weight="70 kg",
            dose="3e6 cells/kg",
            infusion=1,
        ),
    )
    refused(
        lab,
        InvalidInput,
        "--infusion: expected 1 to 3",
        lambda: batches.start_dose(
            lab.db,
            lab.tech1,
            "DOSE-1",
            parent=bank,
            sop_id="SOP-EASC-DOSE",
            recipient="RA-P001",
            weight="70 kg",
            dose="1e6 cells/kg",
            infusion=4,
        ),
    )


def test_passage_beyond_the_sop_maximum_is_refused(lab):
    batches.start_expansion(
        lab.db, lab.tech1, "BM-1", lot_number="TL-B", sop_id="SOP-BMMSC-EXP", at=ago(days=39)
    )
    for p in range(5):  # P0..P4, the SOP's maximum is P4
        steps.seed(
            lab.db,
            lab.tech1,
            "BM-1",
            vessel="CS1",
            vessels=1,
            cells="2e6 cells",
            materials=SEED_LOTS,
            at=ago(days=38 - p * 7),
        )
        steps.harvest(
            lab.db,
            lab.tech1,
            "BM-1",
            total_cells="2e7 cells",
            viability="90 %",
            materials=HARVEST_LOTS,
            at=ago(days=32 - p * 7),
        )
    refused(
        lab,
        RuleViolation,
        "passage P5 is beyond the SOP's maximum P4",
        lambda: steps.seed(
            lab.db,
            lab.tech1,
            "BM-1",
            vessel="CS1",
            vessels=1,
            cells="2e6 cells",
            materials=SEED_LOTS,
            at=ago(days=2),
        ),
    )


def test_cumulative_pd_above_the_ceiling_is_refused(lab, bank):
    steps.seed(
        lab.db,
        lab.tech1,
        bank,
        vessel="CS1",
        vessels=1,
        cells="1e6 cells",
        materials=SEED_LOTS,
        at=ago(days=19),
    )
    refused(
        lab,
        RuleViolation,
        "cumulative population doublings would be 26.58, above .* 25",
        lambda: steps.harvest(
            lab.db,
            lab.tech1,
            bank,
            total_cells="1.0e14 cells",
            viability="100 %",
            materials=HARVEST_LOTS,
            at=ago(days=13),
        ),
    )


def test_freezing_before_the_minimum_bank_passage_is_refused(lab, bank):
    steps.seed(
        lab.db,
        lab.tech1,
        bank,
        vessel="CS2",
        vessels=1,
        cells="3e6 cells",
        materials=SEED_LOTS,
        at=ago(days=19),
    )
    steps.harvest(
        lab.db,
        lab.tech1,
        bank,
        total_cells="1.2e8 cells",
        viability="95 %",
        materials=HARVEST_LOTS,
        at=ago(days=13),
    )
    refused(
        lab,
        RuleViolation,
        "cannot be frozen at P0: .* banks from P3",
        lambda: steps.freeze(
            lab.db,
            lab.tech1,
            bank,
            vials=1,
            cells_per_vial="50e6 cells",
            volume_per_vial="1.5 mL",
            cryoprotectant="CRYO-1",
            location="T1",
            at=ago(days=12),
        ),
    )


def test_cells_frozen_cannot_exceed_cells_harvested(lab):
    released = released_easc_bank(lab, vials=2)  # harvest 1.14e8 viable at P3
    assert batch_view(lab.db, released).to_dict()["vials_left"] == 2
    batches.start_expansion(
        lab.db, lab.tech1, "EXP-9", lot_number="TL-A", sop_id="SOP-EASC-EXP", at=ago(days=39)
    )
    for p in range(4):
        steps.seed(
            lab.db,
            lab.tech1,
            "EXP-9",
            vessel="CS2",
            vessels=1,
            cells="3e6 cells",
            materials=SEED_LOTS,
            at=ago(days=38 - p * 7),
        )
        steps.harvest(
            lab.db,
            lab.tech1,
            "EXP-9",
            total_cells="1.2e8 cells",
            viability="95 %",
            materials=HARVEST_LOTS,
            at=ago(days=32 - p * 7),
        )
    refused(
        lab,
        InvalidInput,
        r"--vials: 3 vials × 50 ×10⁶ cells = 150 ×10⁶ cells is more "
        r"than the viable cells harvested \(114 ×10⁶ cells\)",
        lambda: steps.freeze(
            lab.db,
            lab.tech1,
            "EXP-9",
            vials=3,
            cells_per_vial="50e6 cells",
            volume_per_vial="1.5 mL",
            cryoprotectant="CRYO-1",
            location="T1",
            at=ago(days=2),
        ),
    )


def test_fill_after_the_window_has_closed_is_refused(lab):
    bank = _released_bm_bank(lab)
    batches.start_dose(
        lab.db,
        lab.tech1,
        "FUC-1",
        parent=bank,
        sop_id="SOP-FUC-BMMSC-DOSE",
        recipient="EB-P001",
        weight="20 kg",
        dose="2e6 cells/kg",
        infusion=1,
        at=ago(hours=5),
    )
    steps.thaw(
        lab.db,
        lab.tech1,
        "FUC-1",
        vials=2,
        total_cells="5e7 cells",
        viability="90 %",
        materials=["WASH-1"],
        at=ago(hours=4, minutes=30),
    )
    _fucosylate(lab, "FUC-1", ago(hours=4), ago(hours=3))
    refused(
        lab,
        RuleViolation,
        "the window has closed",
        lambda: steps.fill(
            lab.db,
            lab.tech1,
            "FUC-1",
            volume="10 mL",
            cells="4e7 cells",
            materials=["EXC-1"],
            at=ago(hours=1, minutes=50),
        ),
    )
    steps.fill(
        lab.db,
        lab.tech1,
        "FUC-1",
        volume="10 mL",
        cells="4e7 cells",
        materials=["EXC-1"],
        at=ago(hours=2, minutes=30),
    )
    view = batch_view(lab.db, "FUC-1").to_dict()
    # the mother is ineligible but allowed for her child: biohazard collection type 3
    assert view["bag"]["product_code"][5] == "3"
    from datetime import datetime, timedelta

    end = datetime.fromisoformat(view["fucosylation"]["end"].replace("Z", "+00:00"))
    expiry = datetime.fromisoformat(view["expiry"].replace("Z", "+00:00"))
    assert expiry - end == timedelta(hours=4)  # SOP: infuse within 4 h of fucosylation end
    assert close(view["fucosylation"]["duration"]["value"], 60.0)


def test_fucosylation_duration_outside_the_sop_is_refused(lab):
    bank = _released_bm_bank(lab)
    batches.start_dose(
        lab.db,
        lab.tech1,
        "FUC-1",
        parent=bank,
        sop_id="SOP-FUC-BMMSC-DOSE",
        recipient="EB-P001",
        weight="20 kg",
        dose="2e6 cells/kg",
        infusion=1,
        at=ago(hours=5),
    )
    steps.thaw(
        lab.db,
        lab.tech1,
        "FUC-1",
        vials=2,
        total_cells="5e7 cells",
        viability="90 %",
        materials=["WASH-1"],
        at=ago(hours=4, minutes=30),
    )
    refused(
        lab,
        InvalidInput,
        "--end: the incubation time 120 min is outside .*30–75 min",
        lambda: _fucosylate(lab, "FUC-1", ago(hours=4), ago(hours=2)),
    )


def test_only_a_technician_or_supervisor_records_steps(lab, bank):
    refused(
        lab,
        PermissionDenied,
        "qa1 \\(qa\\) may not record a seed",
        lambda: steps.seed(
            lab.db,
            lab.qa1,
            bank,
            vessel="CS5",
            vessels=1,
            cells="6.36e6 cells",
            materials=SEED_LOTS,
            at=ago(days=19),
        ),
    )


def test_work_time_in_the_future_is_refused(lab, bank):
    refused(
        lab,
        InvalidInput,
        "--at: .* is in the future",
        lambda: steps.seed(
            lab.db,
            lab.tech1,
            bank,
            vessel="CS5",
            vessels=1,
            cells="6.36e6 cells",
            materials=SEED_LOTS,
            at=ago(hours=-2),
        ),
    )


def test_unknown_batch_is_named(lab):
    with pytest.raises(NotFound, match="no batch 'NOPE'"):
        steps.seed(lab.db, lab.tech1, "NOPE", vessel="CS5", vessels=1, cells="1e6 cells")


# ----------------------------------------------------------------------------- QC, corrections


def test_qc_pass_fail_computed_and_retest_keeps_the_original(lab, bank):
    first = qc.record_qc(lab.db, lab.sup1, bank, test="endotoxin", value="0.7 EU/mL")
    second = qc.record_qc(lab.db, lab.sup1, bank, test="endotoxin", value="0.2 EU/mL")
    qc.record_qc(lab.db, lab.sup1, bank, test="mycoplasma", value="Negative")
    results = batch_view(lab.db, bank).to_dict()["qc"]
    assert [(r["id"], r["passed"], r["retest_of"]) for r in results[:2]] == [
        (f"Q{first}", False, None),
        (f"Q{second}", True, f"Q{first}"),
    ]
    assert results[0]["out_of_spec"] and results[0]["specification"] == "< 0.5 EU/mL"
    assert results[2]["value"] == "negative" and results[2]["passed"]


@pytest.mark.requirement("GMP-08")
def test_a_qc_time_before_the_batch_started_or_before_the_result_it_retests_is_refused(lab, bank):
    started = batch_view(lab.db, bank).to_dict()["started_at"]
    refused(
        lab,
        InvalidInput,
        "--at: .* is before the batch started",
        lambda: qc.record_qc(
            lab.db, lab.sup1, bank, test="endotoxin", value="0.2 EU/mL", at=ago(days=400)
        ),
    )
    first = qc.record_qc(lab.db, lab.sup1, bank, test="endotoxin", value="0.7 EU/mL")
    refused(
        lab,
        InvalidInput,
        f"--at: .* is before Q{first}, the result this one retests",
        lambda: qc.record_qc(
            lab.db, lab.sup1, bank, test="endotoxin", value="0.2 EU/mL", at=ago(hours=1)
        ),
    )
    retest = qc.record_qc(lab.db, lab.sup1, bank, test="endotoxin", value="0.2 EU/mL")
    assert [r["id"] for r in batch_view(lab.db, bank).to_dict()["qc"]] == [
        f"Q{first}",
        f"Q{retest}",
    ]
    assert started < batch_view(lab.db, bank).to_dict()["qc"][0]["performed_at"]


def test_qc_value_of_the_wrong_kind_is_refused(lab, bank):
    refused(
        lab,
        InvalidInput,
        "--value: expected one of negative, positive",
        lambda: qc.record_qc(lab.db, lab.sup1, bank, test="mycoplasma", value="maybe"),
    )
    refused(
        lab,
        InvalidInput,
        "--value: expected",
        lambda: qc.record_qc(lab.db, lab.sup1, bank, test="endotoxin", value="5 mL"),
    )


@pytest.mark.requirement("GMP-06")
@pytest.mark.requirement("GMP-19")
def test_correction_keeps_the_original_and_the_reason(lab, bank):
    entry = steps.seed(
        lab.db,
        lab.tech1,
        bank,
        vessel="CS5",
        vessels=1,
        cells="6.36e6 cells",
        materials=SEED_LOTS,
        at=ago(days=19),
    )
    refused(
        lab,
        InvalidInput,
        "--reason: expected why",
        lambda: corrections.correct(
            lab.db,
            lab.tech2,
            bank,
            f"E{entry}",
            field="viable_cells",
            value="7e6 cells",
            reason=" ",
        ),
    )
    corrections.correct(
        lab.db,
        lab.tech2,
        bank,
        f"E{entry}",
        field="viable_cells",
        value="7.0e6 cells",
        reason="counter read twice; recount",
    )
    view = batch_view(lab.db, bank).to_dict()
    assert close(view["passages"][0]["viable_cells_seeded"]["value"], 7.0e6)
    assert view["steps"][0]["corrected_fields"] == ["viable_cells"]
    (fix,) = view["corrections"]
    assert (fix["old_value"], fix["new_value"], fix["reason"]) == (
        "6360000 cell",
        "7000000 cell",
        "counter read twice; recount",
    )
    audit = [e for e in list_entries(lab.db) if e.action == "correct"]
    assert audit[0].username == "tech2" and audit[0].field == "values.viable_cells"
    assert (audit[0].old_value, audit[0].new_value) == ("6360000 cell", "7000000 cell")
    assert audit[0].reason == "counter read twice; recount"


def test_correction_of_a_qc_result_recomputes_pass_fail(lab, bank):
    result = qc.record_qc(lab.db, lab.sup1, bank, test="endotoxin", value="0.7 EU/mL")
    corrections.correct(
        lab.db,
        lab.sup1,
        bank,
        f"Q{result}",
        field="value",
        value="0.07 EU/mL",
        reason="transcription error: decimal point",
    )
    (row,) = batch_view(lab.db, bank).to_dict()["qc"]
    assert row["passed"] and row["corrected"]


@pytest.mark.requirement("GMP-09")
def test_only_qa_releases_and_a_released_batch_is_locked(lab):
    bank = released_easc_bank(lab)
    with pytest.raises(RuleViolation, match="released and locked"):
        qc.record_qc(lab.db, lab.sup1, bank, test="endotoxin", value="0.1 EU/mL")
    batches.start_expansion(lab.db, lab.tech1, "EXP-2", lot_number="TL-A", sop_id="SOP-EASC-EXP")
    refused(
        lab,
        PermissionDenied,
        "needs role qa",
        lambda: release.decide(
            lab.db, lab.tech1, "EXP-2", "release", "looks fine", password=PASSWORD
        ),
    )


@pytest.mark.requirement("GMP-05")
@pytest.mark.requirement("GMP-19")
def test_every_write_is_in_the_audit_trail_with_user_and_values(lab, bank):
    entry = steps.seed(
        lab.db,
        lab.tech1,
        bank,
        vessel="CS5",
        vessels=1,
        cells="6.36e6 cells",
        materials=SEED_LOTS,
        at=ago(days=19),
    )
    mine = [e for e in list_entries(lab.db) if e.batch_id is not None]
    seeds = [e for e in mine if e.entity == "step_entry" and e.entity_id == str(entry)]
    assert seeds and seeds[0].username == "tech1" and seeds[0].action == "create"
    assert '"viable_cells":"6360000.0"' in seeds[0].new_value
    assert sum(1 for e in mine if e.entity == "material_use") == 3


# ----------------------------------------------------------------------------- helpers


def _released_bm_bank(lab) -> str:
    db = lab.db
    batches.start_expansion(
        db, lab.tech1, "BM-1", lot_number="TL-B", sop_id="SOP-BMMSC-EXP", at=ago(days=39)
    )
    for p in range(3):
        steps.seed(
            db,
            lab.tech1,
            "BM-1",
            vessel="CS1",
            vessels=1,
            cells="2e6 cells",
            materials=SEED_LOTS,
            at=ago(days=38 - p * 7),
        )
        steps.harvest(
            db,
            lab.tech1,
            "BM-1",
            total_cells="1e8 cells",
            viability="90 %",
            materials=HARVEST_LOTS,
            at=ago(days=32 - p * 7),
        )
    steps.freeze(
        db,
        lab.tech1,
        "BM-1",
        vials=4,
        cells_per_vial="20e6 cells",
        volume_per_vial="1 mL",
        cryoprotectant="CRYO-1",
        location="T2",
        at=ago(days=10),
    )
    release_fully(lab, "BM-1")
    return "BM-1"


def _fucosylate(lab, code, start, end):
    return steps.fucosylation(
        lab.db,
        lab.tech2,
        code,
        enzyme_lot="FT-1",
        enzyme="60 ug/mL",
        gdp_fucose_lot="GDP-1",
        gdp_fucose="1 mM",
        cells="2e7 cells/mL",
        volume="2 mL",
        temperature="37 degC",
        start=start,
        end=end,
        materials=["BUF-1"],
    )


def test_a_correction_that_makes_a_result_out_of_spec_opens_a_deviation(lab, bank):
    result = qc.record_qc(lab.db, lab.sup1, bank, test="endotoxin", value="0.07 EU/mL")
    assert batch_view(lab.db, bank).to_dict()["deviations"] == []
    corrections.correct(lab.db, lab.sup1, bank, f"Q{result}", field="value",
                        value="0.7 EU/mL", reason="transcription error: decimal point")  # fmt: skip
    view = batch_view(lab.db, bank).to_dict()
    assert view["qc"][0]["passed"] is False
    (deviation,) = view["deviations"]
    assert deviation["status"] == "open" and f"Q{result}" in deviation["description"]


@pytest.mark.requirement("GMP-08")
def test_a_passage_cannot_seed_more_cells_than_the_last_harvest_gave(lab, bank):
    steps.seed(lab.db, lab.tech1, bank, vessel="CS5", vessels=1, cells="6.36 x 10^6 cells",
               materials=SEED_LOTS, at=ago(days=19))  # fmt: skip
    steps.harvest(lab.db, lab.tech2, bank, total_cells="5e7 cells", viability="90 %",
                  confluence="80 %", materials=HARVEST_LOTS, at=ago(days=13))  # fmt: skip
    refused(
        lab,
        InvalidInput,
        r"--cells: 50 ×10⁶ cells is more than the viable cells harvested at P0 \(E\d+: 45 ×10⁶",
        lambda: steps.seed(
            lab.db,
            lab.tech1,
            bank,
            vessel="CS10",
            vessels=2,
            cells="50e6 cells",
            materials=SEED_LOTS,
            at=ago(days=12),
        ),  # fmt: skip
    )
    assert steps.seed(lab.db, lab.tech1, bank, vessel="CS10", vessels=2, cells="45e6 cells",
                      materials=SEED_LOTS, at=ago(days=12))  # fmt: skip


@pytest.mark.requirement("GMP-08")
def test_two_banks_cannot_be_frozen_into_the_same_freezer_positions(lab):
    from cellbatch.services.queries.batch_view import batch_view

    released_easc_bank(lab, "BANK-1", vials=2)  # Tank 1 / Box 1, positions 1 and 2
    with pytest.raises(
        InvalidInput,
        match=r"--first-position: Tank 1 / Box 1 / position 1 already holds a vial in stock "
        r"\(and 1 more of them\)",
    ):
        released_easc_bank(lab, "BANK-2", vials=2)
    assert batch_view(lab.db, "BANK-2").to_dict()["vials"] == []
    assert len(batch_view(lab.db, "BANK-1").to_dict()["vials"]) == 2


@pytest.mark.requirement("GMP-08")
def test_work_times_stay_after_what_they_depend_on_and_corrections_keep_them_in_order(lab, bank):
    from cellbatch.services.queries.batch_view import batch_view

    refused(
        lab,
        InvalidInput,
        "--at: .* is before tissue lot TL-A was received",
        lambda: batches.start_expansion(
            lab.db, lab.tech1, "EXP-2", lot_number="TL-A", sop_id="SOP-EASC-EXP", at=ago(days=41)
        ),  # fmt: skip
    )
    released = released_easc_bank(lab, "BANK-1")
    frozen = next(
        s for s in batch_view(lab.db, released).to_dict()["steps"] if s["kind"] == "freeze"
    )
    refused(
        lab,
        InvalidInput,
        "--at: .* is before bank BANK-1 was frozen",
        lambda: batches.start_dose(
            lab.db,
            lab.tech1,
            "DOSE-9",
            parent=released,
            sop_id="SOP-EASC-DOSE",
            recipient="RA-P002",
            weight="70 kg",
            dose="4 x 10^6 cells/kg",
            infusion=1,
            at=ago(days=11),
        ),  # fmt: skip
    )
    assert frozen["performed_at"]
    seed = steps.seed(lab.db, lab.tech1, bank, vessel="CS5", vessels=1, cells="6.36e6 cells",
                      materials=SEED_LOTS, at=ago(days=19))  # fmt: skip
    steps.harvest(lab.db, lab.tech2, bank, total_cells="5e7 cells", viability="90 %",
                  confluence="80 %", materials=HARVEST_LOTS, at=ago(days=13))  # fmt: skip
    future = (ago(days=-2)).isoformat()
    refused(
        lab,
        InvalidInput,
        "--value: .* is in the future",
        lambda: corrections.correct(
            lab.db, lab.tech2, bank, f"E{seed}", field="at", value=future, reason="clock"
        ),  # fmt: skip
    )
    refused(
        lab,
        InvalidInput,
        r"--value: .* is after E\d+ \(harvest",
        lambda: corrections.correct(
            lab.db,
            lab.tech2,
            bank,
            f"E{seed}",
            field="at",
            value=ago(days=12).isoformat(),
            reason="clock",
        ),  # fmt: skip
    )
    assert corrections.correct(lab.db, lab.tech2, bank, f"E{seed}", field="at",
                               value=ago(days=18).isoformat(), reason="clock")  # fmt: skip
