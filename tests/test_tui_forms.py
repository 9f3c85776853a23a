"""Entry forms are built from the SOP: every parameter a service takes, with unit and range."""

from __future__ import annotations

import pytest

from cellbatch.services.queries.sops import available_sops
from cellbatch.tui.forms import build_form, check_field

STEPS = [(sop, step) for sop in available_sops() if sop.status != "retired" for step in sop.steps]


@pytest.mark.parametrize("sop, step", STEPS, ids=lambda v: getattr(v, "id", None))
def test_every_input_parameter_and_material_has_a_field(sop, step):
    form = build_form(sop, step.kind)
    names = {f.name for f in form.fields}
    for p in step.inputs:  # every one: an input no field records could never be entered
        field = next(f for f in form.fields if f.name == p.name)
        assert p.range_text() in field.hint
        assert field.critical == p.critical
    for material in step.materials:
        assert f"lot_{material}" in names


@pytest.mark.requirement("GMP-23")
def test_a_value_is_checked_for_dimension_number_and_range_as_typed():
    sop = next(s for s in available_sops() if s.id == "SOP-FUC-BMMSC-DOSE" and s.is_approved)
    form = build_form(sop, "fucosylation")
    temperature = next(f for f in form.fields if f.name == "temperature")
    assert check_field(temperature, "37 degC", None, "2026-01-01").state == "ok"
    assert check_field(temperature, "37 mL", None, "2026-01-01").state == "error"
    assert check_field(temperature, "warm", None, "2026-01-01").state == "error"
    out = check_field(temperature, "45 degC", None, "2026-01-01")
    assert out.state == "error" and "outside the SOP range" in out.message
    lot = next(f for f in form.fields if f.name == "lot_fucosyltransferase")
    lots = {
        "FTVII-1": {"kind": "fucosyltransferase", "name": "FTVII", "expires": "2025-12-31"},
        "GDPF-1": {"kind": "gdp-fucose", "name": "GDP-fucose", "expires": "2027-01-01"},
    }
    assert "EXPIRED" in check_field(lot, "FTVII-1", lots, "2026-01-01").message
    assert "not fucosyltransferase" in check_field(lot, "GDPF-1", lots, "2026-01-01").message
    assert check_field(lot, "NOPE", lots, "2026-01-01").state == "error"


@pytest.mark.requirement("GMP-23")
def test_a_bare_number_in_a_cell_count_field_is_refused_as_ambiguous():
    sop = next(s for s in available_sops() if s.id == "SOP-FUC-BMMSC-DOSE" and s.is_approved)
    cells = next(f for f in build_form(sop, "fill").fields if f.name == "viable_cells")
    out = check_field(cells, "40", None, "2026-01-01")
    assert out.state == "error" and "cell count with its unit" in out.message
    assert check_field(cells, "40 x 10^6 cells", None, "2026-01-01").state == "ok"
    assert cells.placeholder == "e.g. 280 x 10^6 cells"


def test_every_example_in_a_field_is_a_value_the_sop_accepts():
    seen = 0
    for sop in available_sops():
        for step in sop.steps:
            for f in build_form(sop, step.kind).fields:
                if f.kind != "quantity":
                    continue
                example = f.placeholder.removeprefix("e.g. ")
                assert check_field(f, example, None, "2026-01-01").state == "ok", (sop.id, f.name)
                seen += 1
    assert seen > 20
