"""Pure rule tests of the step kinds: no database, the shipped SOPs, a context built by hand.

Each kind answers ``check(values, context)`` with refusals, flags and computed values; the
recording and correcting services raise the first refusal as is (tests/test_corrections.py
shows the same messages through the database).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cellbatch.domain.sop import Sop, find_sop, load_sop, load_sops
from cellbatch.domain.steps import Prior, StepContext, kind_of, known_kinds

SOPS = Path(__file__).resolve().parents[1] / "sops"
T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def sops() -> list[Sop]:
    return load_sops(SOPS)


def context(sop: Sop, kind: str, before=(), at=None, **extra) -> StepContext:
    return StepContext(
        step=sop.step(kind),
        sop_label=sop.label,
        at=at or T0 + timedelta(hours=len(before) + 1),
        started_at=T0,
        before=tuple(before),
        expansion=sop.expansion,
        dose=sop.dose,
        windows=sop.windows,
        **extra,
    )


def entry(n: int, kind: str, passage=None, hours: float = 0, **values) -> Prior:
    return Prior(f"E{n}", kind, passage, values, T0 + timedelta(hours=hours))


def messages(outcome) -> list[str]:
    return [r.message for r in outcome.refusals]


def test_the_six_kinds_in_process_order():
    assert [k.name for k in known_kinds()] == [
        "seed", "harvest", "freeze", "thaw", "fucosylation", "fill",
    ]  # fmt: skip


@pytest.mark.requirement("GMP-23")
def test_seed_density_vessel_and_passage(sops):
    sop = find_sop(sops, "SOP-EASC-EXP")
    seed = kind_of("seed")
    ok = seed.check({"vessel": "cs2", "vessels": 1, "viable_cells": 3e6}, context(sop, "seed"))
    assert ok.ok and ok.values["vessel"] == "CS2" and ok.passage == 0
    assert ok.computed["seeding_density"] == pytest.approx(3e6 / 1272)
    dense = seed.check({"vessel": "CS2", "vessels": 1, "viable_cells": 3e8}, context(sop, "seed"))
    assert dense.refusals[0].option == "--cells"
    assert messages(dense)[0].startswith("the seeding density 235849 cells/cm²")
    assert "outside the SOP range" in messages(dense)[0]
    vessel = seed.check({"vessel": "T999", "vessels": 1, "viable_cells": 3e6}, context(sop, "seed"))
    assert vessel.refusals[0].option == "--vessel" and "got 'T999'" in messages(vessel)[0]
    assert "seeding_density" not in vessel.computed  # never a silent null density


def test_seed_never_more_than_harvested(sops):
    sop = find_sop(sops, "SOP-EASC-EXP")
    before = [
        entry(1, "seed", 0, 0, vessel="CS2", vessels=1, viable_cells=3e6),
        entry(2, "harvest", 0, 100, total_cells=1e7, viability=90.0),
    ]
    out = kind_of("seed").check(
        {"vessel": "CS10", "vessels": 1, "viable_cells": 1e7},
        context(sop, "seed", before, at=T0 + timedelta(hours=101)),
    )
    assert "more than the viable cells harvested at P0 (E2: 9 ×10⁶ cells)" in messages(out)[0]
    assert out.passage == 1


def test_harvest_flags_a_low_viability_and_refuses_above_the_pd_ceiling(sops):
    sop = find_sop(sops, "SOP-EASC-EXP")
    before = [entry(1, "seed", 0, 0, vessel="CS2", vessels=1, viable_cells=3e6)]
    harvest = kind_of("harvest")
    low = harvest.check({"total_cells": 1e7, "viability": 60.0}, context(sop, "harvest", before))
    assert low.ok and low.flags and "Viability" in low.flags[0]
    ceiling = sop.expansion.max_cumulative_pd
    many = 3e6 * 2 ** (ceiling + 1)
    out = harvest.check({"total_cells": many, "viability": 100.0}, context(sop, "harvest", before))
    assert "above the SOP's ceiling" in messages(out)[0] and out.refusals[0].option is None


@pytest.mark.requirement("GMP-23")
def test_thaw_total_cells_vials_and_stock(sops):
    sop = find_sop(sops, "SOP-EASC-DOSE")
    thaw = kind_of("thaw")
    ctx = context(sop, "thaw", stock=(1, 2, 3))
    low = thaw.check({"vials": 1, "total_cells": 0.2e6, "viability": 90.0}, ctx)
    assert low.refusals[0].option == "--cells"
    assert messages(low) == [
        "total cells after thaw and wash 0.2 ×10⁶ cells is outside the SOP range ≥ 1 ×10⁶ cells"
    ]
    ok = thaw.check({"vials": 2, "total_cells": 5e7, "viability": 90.0}, ctx)
    assert ok.ok and ok.values["vial_numbers"] == [1, 2]
    gone = thaw.check({"vials": 1, "vial_numbers": [7], "total_cells": 5e7, "viability": 90.0}, ctx)
    assert "vial 7 is not in stock" in messages(gone)[0]
    more = thaw.check({"vials": 4, "total_cells": 5e7, "viability": 90.0}, ctx)
    assert "only 3 remain in the bank" in messages(more)[0]


def test_a_thaw_corrected_to_fewer_vials_keeps_the_first_and_returns_the_rest(sops):
    sop = find_sop(sops, "SOP-EASC-DOSE")
    thaw = kind_of("thaw")
    old = {"vials": 3, "vial_numbers": [4, 5, 6], "total_cells": 5e7, "viability": 90.0}
    new = dict(old, vials=1)
    thaw.carry(old, new, context(sop, "thaw", stock=(4, 5, 6, 7)))
    assert new["vial_numbers"] == [4]
    more = dict(old, vials=4)
    thaw.carry(old, more, context(sop, "thaw", stock=(4, 5, 6, 7)))
    assert more["vial_numbers"] == [4, 5, 6, 7]


def test_fill_dose_window_and_time_windows(sops):
    sop = find_sop(sops, "SOP-EASC-DOSE")
    fill = kind_of("fill")
    before = [entry(1, "thaw", None, 0, vials=1, total_cells=4e8, viability=90.0)]
    ctx = context(sop, "fill", before, at=T0 + timedelta(hours=1), dose_per_kg=4e6,
                  body_weight_kg=70.0)  # fmt: skip
    ok = fill.check({"volume": 60.0, "viable_cells": 2.8e8}, ctx)
    assert ok.ok and ok.computed["target_cells"] == pytest.approx(2.8e8)
    assert ok.expires_at == ctx.at + timedelta(hours=4)
    out = fill.check({"volume": 60.0, "viable_cells": 2.0e8}, ctx)
    assert out.refusals[0].option == "--cells" and "outside the dose tolerance" in messages(out)[0]
    late = context(sop, "fill", before, at=T0 + timedelta(hours=4), dose_per_kg=4e6,
                   body_weight_kg=70.0)  # fmt: skip
    assert (
        "the fill is too late"
        in messages(fill.check({"volume": 60.0, "viable_cells": 2.8e8}, late))[0]
    )
    assert fill.deadlines(ctx) == [("fill by (thaw)", T0 + timedelta(hours=3))]


def test_fucosylation_incubation_time_and_expiry(sops):
    sop = find_sop(sops, "SOP-FUC-BMMSC-DOSE")
    fuc = kind_of("fucosylation")
    before = [entry(1, "thaw", None, 0, vials=1, total_cells=4e8, viability=90.0)]
    values = {
        "enzyme_concentration": 60.0, "gdp_fucose_concentration": 1.0,
        "cell_concentration": 1e7, "volume": 10.0, "temperature": 37.0,
        "start": (T0 + timedelta(minutes=30)).isoformat(),
        "end": (T0 + timedelta(minutes=200)).isoformat(),
    }  # fmt: skip
    out = fuc.check(values, context(sop, "fucosylation", before, at=T0 + timedelta(minutes=200)))
    assert out.refusals[0].option == "--end"
    assert messages(out) == ["the incubation time 170 min is outside the SOP range 30–75 min"]


def test_a_step_before_the_one_before_it_is_refused(sops):
    sop = find_sop(sops, "SOP-EASC-EXP")
    before = [entry(1, "seed", 0, 5, vessel="CS2", vessels=1, viable_cells=3e6)]
    out = kind_of("harvest").check(
        {"total_cells": 1e7, "viability": 90.0}, context(sop, "harvest", before, at=T0)
    )
    assert (
        out.refusals[0].option == "--at" and "before the batch's previous step" in messages(out)[0]
    )


def test_an_sop_step_declaring_an_input_its_kind_cannot_record_is_refused_at_load(tmp_path):
    text = (SOPS / "SOP-EASC-DOSE_v1.1.toml").read_text(encoding="utf-8")
    text = text.replace(
        '[[steps]]\nid = "fill"',
        '[[steps.parameters]]\nname = "osmolality"\nlabel = "Osmolality"\nunit = "count"\n'
        'critical = true\n\n[[steps]]\nid = "fill"',
    )
    path = tmp_path / "SOP-EASC-DOSE_v1.1.toml"
    path.write_text(text, encoding="utf-8")
    from cellbatch.domain.errors import InvalidSop

    with pytest.raises(InvalidSop) as info:
        load_sop(path)
    assert info.value.path == str(path)
    assert info.value.field == "steps[0].parameters[3].name"
    assert "a thaw step does not record 'osmolality'" in info.value.message


def test_the_retired_fucosylation_sop_is_readable_as_history(sops):
    old = find_sop(sops, "SOP-FUC-BMMSC-DOSE", "1.0")
    assert old.status == "retired" and old.step("fucosylation").has_param("viability")
    new = find_sop(sops, "SOP-FUC-BMMSC-DOSE")
    assert new.version == "1.2" and not new.step("fucosylation").has_param("viability")


def test_an_sop_asking_to_flag_a_count_its_kind_always_refuses_is_refused_at_load(tmp_path):
    text = (SOPS / "SOP-EASC-DOSE_v1.1.toml").read_text(encoding="utf-8")
    declared = 'name = "vials"\n'
    assert declared in text
    text = text.replace(declared, declared + 'on_out_of_range = "flag"\n', 1)
    path = tmp_path / "SOP-EASC-DOSE_v1.1.toml"
    path.write_text(text, encoding="utf-8")
    from cellbatch.domain.errors import InvalidSop

    with pytest.raises(InvalidSop) as info:
        load_sop(path)
    assert info.value.field == "steps[0].parameters[0].on_out_of_range"
    assert "a thaw step always refuses a number of vials outside its range" in info.value.message
