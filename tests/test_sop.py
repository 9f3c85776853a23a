"""SOP files: the shipped procedures load, the hash identifies content, bad files are refused."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import tomllib
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from cellbatch.domain.errors import InvalidInput, InvalidSop, NotFound, RuleViolation
from cellbatch.domain.sop import (
    REQUIRED_PARAMETERS,
    VESSEL_AREAS_CM2,
    Sop,
    content_hash,
    default_sops_dir,
    find_sop,
    load_sop,
    load_sop_folder,
    load_sops,
    parse_sop,
)

SOPS_DIR = Path(__file__).resolve().parents[1] / "sops"
SHIPPED = sorted(SOPS_DIR.glob("*.toml"))
APPROVED_IDS = ["SOP-BMMSC-EXP", "SOP-EASC-DOSE", "SOP-EASC-EXP", "SOP-FUC-BMMSC-DOSE"]


# --------------------------------------------------------------------------- helpers


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(type(value))


def dump_toml(doc: dict[str, Any], prefix: str = "") -> str:
    """A minimal TOML writer for SOP documents (tables and arrays of tables)."""
    lines: list[str] = []
    tables: list[tuple[str, Any, bool]] = []
    for key, value in doc.items():
        if isinstance(value, dict):
            tables.append((key, value, False))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            tables.append((key, value, True))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    for key, value, is_array in tables:
        name = f"{prefix}{key}"
        for item in value if is_array else [value]:
            lines.append(f"\n[[{name}]]" if is_array else f"\n[{name}]")
            lines.append(dump_toml(item, name + "."))
    return "\n".join(lines) + "\n"


def shipped_doc(name: str) -> dict[str, Any]:
    """The shipped file of ``name`` a test edits: the approved eASC dose (1.1), else 1.0."""
    version = "1.1" if name == "SOP-EASC-DOSE" else "1.0"
    return tomllib.loads((SOPS_DIR / f"{name}_v{version}.toml").read_text(encoding="utf-8"))


def write(tmp_path: Path, doc: dict[str, Any] | str, name: str = "SOP-TEST_v1.0.toml") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else dump_toml(doc), encoding="utf-8")
    return path


def refused(path: Path) -> InvalidSop:
    with pytest.raises(InvalidSop) as info:
        load_sop(path)
    error = info.value
    assert error.path == str(path)
    assert str(path) in str(error) and error.field in str(error)
    return error


def step_index(doc: dict[str, Any], kind: str) -> int:
    return next(i for i, s in enumerate(doc["steps"]) if s["kind"] == kind)


def param_index(step: dict[str, Any], name: str) -> int:
    return next(j for j, p in enumerate(step["parameters"]) if p["name"] == name)


@pytest.fixture(scope="module")
def sops() -> list[Sop]:
    return load_sops(SOPS_DIR)


# --------------------------------------------------------------------------- shipped files


def test_eight_files_are_shipped() -> None:
    assert [p.name for p in SHIPPED] == [
        "SOP-BMMSC-EXP_v1.0.toml",
        "SOP-EASC-DOSE_v1.0.toml",
        "SOP-EASC-DOSE_v1.1.toml",
        "SOP-EASC-EXP_v1.0.toml",
        "SOP-EASC-EXP_v1.1.toml",
        "SOP-FUC-BMMSC-DOSE_v1.0.toml",
        "SOP-FUC-BMMSC-DOSE_v1.1.toml",
        "SOP-FUC-BMMSC-DOSE_v1.2.toml",
    ]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_file_loads(path: Path) -> None:
    sop = load_sop(path)
    assert path.name == f"{sop.id}_v{sop.version}.toml"
    assert sop.source == str(path)
    assert len(sop.content_hash) == 64
    assert sop.content_hash == content_hash(tomllib.loads(path.read_text(encoding="utf-8")))
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# ") and "illustrative" in text.split("\nid = ")[0]
    for step in sop.steps:
        for name in REQUIRED_PARAMETERS[step.kind]:
            assert step.has_param(name)
    json.dumps(sop.to_dict())


def test_load_sops_sorts_by_id_then_version(sops: list[Sop]) -> None:
    assert [(s.id, s.version) for s in sops] == [
        ("SOP-BMMSC-EXP", "1.0"),
        ("SOP-EASC-DOSE", "1.0"),
        ("SOP-EASC-DOSE", "1.1"),
        ("SOP-EASC-EXP", "1.0"),
        ("SOP-EASC-EXP", "1.1"),
        ("SOP-FUC-BMMSC-DOSE", "1.0"),
        ("SOP-FUC-BMMSC-DOSE", "1.1"),
        ("SOP-FUC-BMMSC-DOSE", "1.2"),
    ]


@pytest.mark.parametrize("sop_id", APPROVED_IDS)
def test_find_sop_finds_each_approved_procedure(sops: list[Sop], sop_id: str) -> None:
    sop = find_sop(sops, sop_id)
    version = {"SOP-FUC-BMMSC-DOSE": "1.2", "SOP-EASC-DOSE": "1.1"}.get(sop_id, "1.0")
    assert (sop.id, sop.version, sop.status) == (sop_id, version, "approved")
    sop.ensure_approved()
    assert find_sop(sops, sop_id.lower(), f"v{version}") is sop


def test_the_draft_is_never_picked_and_is_refused_for_a_batch(sops: list[Sop]) -> None:
    assert find_sop(sops, "SOP-EASC-EXP").version == "1.0"
    draft = find_sop(sops, "SOP-EASC-EXP", "1.1")
    assert draft.status == "draft" and not draft.is_approved
    assert draft.content_hash != find_sop(sops, "SOP-EASC-EXP").content_hash
    with pytest.raises(RuleViolation, match=r"SOP-EASC-EXP v1\.1 is draft, not approved"):
        draft.ensure_approved()


def test_find_sop_refusals_list_what_exists(sops: list[Sop]) -> None:
    with pytest.raises(NotFound, match="known SOPs: SOP-BMMSC-EXP, SOP-EASC-DOSE"):
        find_sop(sops, "SOP-NOPE")
    with pytest.raises(NotFound, match=r"versions: 1\.0 \(approved\), 1\.1 \(draft\)"):
        find_sop(sops, "SOP-EASC-EXP", "2.0")
    drafts_only = [find_sop(sops, "SOP-EASC-EXP", "1.1")]
    with pytest.raises(NotFound, match="no approved version"):
        find_sop(drafts_only, "SOP-EASC-EXP")


def test_easc_expansion_values(sops: list[Sop]) -> None:
    sop = find_sop(sops, "SOP-EASC-EXP")
    assert sop.kind == "expansion" and sop.tissues == ("adipose",)
    assert sop.expansion is not None
    assert (sop.expansion.min_bank_passage, sop.expansion.max_passage) == (3, 6)
    assert sop.expansion.max_cumulative_pd == 25
    assert sop.expansion.vessel_area_cm2("CS10") == VESSEL_AREAS_CM2["CS10"] == 6360
    with pytest.raises(NotFound):
        sop.expansion.vessel_area_cm2("T25")
    assert [s.kind for s in sop.steps] == ["seed", "harvest", "freeze"]
    density = sop.step("seed").param("seeding_density")
    assert (density.min_canonical, density.max_canonical, density.input) == (1000, 4000, False)
    assert density.range_text() == "1000–4000 cells/cm²"
    assert density.in_range(2500) and not density.in_range(999)
    per_vial = sop.step("freeze").param("cells_per_vial")
    assert per_vial.range_text() == "40–60 ×10⁶ cells"
    assert sop.step("seed").repeats and not sop.step("freeze").repeats
    assert set(sop.step("seed").materials) == {"medium", "supplement", "dissociation-reagent"}
    assert sop.critical_fields("harvest") == {"total_cells", "viability"}
    assert sop.critical_fields("fucosylation") == set()
    with pytest.raises(ValueError):
        sop.critical_fields("harvets")
    assert sop.step("harvest").param("viability").min == 85
    with pytest.raises(NotFound, match="no parameter 'colour'"):
        sop.step("harvest").param("colour")
    with pytest.raises(NotFound, match="no step 'fill'"):
        sop.step("fill")


def test_easc_bank_qc(sops: list[Sop]) -> None:
    sop = find_sop(sops, "SOP-EASC-EXP")
    tests = {t.test for t in sop.release_qc()}
    assert tests >= {"sterility", "mycoplasma", "endotoxin", "karyotype", "post-thaw-viability"}
    assert tests >= {"cd105", "cd73", "cd90", "cd45", "cd34", "cd14", "cd19", "hla-dr"}
    assert sop.qc_test("viability").stage == "in-process"
    assert sop.qc_test("cd90").spec_text() == "≥ 95 %"
    assert sop.qc_test("hla-dr").spec_text() == "≤ 2 %"
    assert sop.qc_test("endotoxin").spec_text() == "< 0.5 EU/mL"
    assert sop.qc_test("sterility").spec_text() == "no growth"
    with pytest.raises(NotFound):
        sop.qc_test("viability", stage="release")


def test_easc_dose_values(sops: list[Sop]) -> None:
    sop = find_sop(sops, "SOP-EASC-DOSE")
    assert sop.parent_sops == ("SOP-EASC-EXP",) and sop.dose is not None
    assert [d.value for d in sop.dose.cohort_doses] == [1e6, 2e6, 4e6]
    assert [d.text for d in sop.dose.cohort_doses] == ["1e6 cell/kg", "2e6 cell/kg", "4e6 cell/kg"]
    assert sop.dose.matching_cohort_dose(4e6) is sop.dose.cohort_doses[2]
    assert sop.dose.matching_cohort_dose(3e6) is None
    assert sop.dose.infusion_days == (1, 8, 15)
    assert sop.dose.max_concentration.value == 5e6
    assert sop.dose.shelf_life.as_timedelta() == timedelta(hours=4)
    assert sop.dose.expiry_from == "fill"
    low, high = sop.dose.target_window(2.8e8)
    assert low == pytest.approx(2.52e8) and high == pytest.approx(3.08e8)
    assert sop.windows.thaw_to_fill_max is not None
    assert sop.windows.thaw_to_fill_max.as_timedelta() == timedelta(hours=3)
    assert [s.kind for s in sop.steps] == ["thaw", "fill"] and not sop.has_step("fucosylation")
    assert sop.step("fill").param("concentration").max_canonical == 5e6
    assert {t.test for t in sop.release_qc()} == {
        "viability",
        "cell-dose",
        "gram-stain",
        "endotoxin",
    }
    assert sop.qc_test("cell-dose").spec_text() == "90–110 %"


def test_fucosylated_dose_values(sops: list[Sop]) -> None:
    sop = find_sop(sops, "SOP-FUC-BMMSC-DOSE")
    assert sop.parent_sops == ("SOP-BMMSC-EXP",) and sop.dose is not None
    assert [s.kind for s in sop.steps] == ["thaw", "fucosylation", "fill"]
    assert sop.dose.expiry_from == "fucosylation_end"
    assert sop.dose.infusion_days == (1, 15, 29)
    fuc = sop.step("fucosylation")
    assert fuc.param("duration").input is False
    assert (fuc.param("duration").min, fuc.param("duration").max) == (30, 75)
    assert fuc.param("temperature").range_text() == "35–39 °C"
    assert fuc.param("enzyme_concentration").range_text() == "50–70 µg/mL"
    assert set(fuc.materials) == {"fucosyltransferase", "gdp-fucose", "buffer"}
    assert sop.critical_fields("fucosylation") == {
        "enzyme_concentration",
        "gdp_fucose_concentration",
    }
    # viability and HECA-452 after fucosylation are QC results, not step parameters (v1.1)
    assert not fuc.has_param("viability") and not fuc.has_param("heca452_positive")
    assert sop.qc_test("heca452").spec_text() == "≥ 50 %"
    assert sop.qc_test("viability").stage == "release"  # release preferred when at both stages
    assert sop.qc_test("viability", "in-process").id == "viability-in-process"
    assert sop.qc_test("viability-in-process").stage == "in-process"
    assert "heca452" in {t.test for t in sop.release_qc()}
    assert "sterility" not in {t.test for t in sop.release_qc()}


def test_bmmsc_expansion_values(sops: list[Sop]) -> None:
    sop = find_sop(sops, "SOP-BMMSC-EXP")
    assert sop.tissues == ("bone-marrow",) and sop.expansion is not None
    assert (sop.expansion.min_bank_passage, sop.expansion.max_passage) == (2, 4)
    assert sop.step("freeze").param("cells_per_vial").range_text() == "10–30 ×10⁶ cells"


def test_to_dict_leads_with_identity_and_hash(sops: list[Sop]) -> None:
    data = find_sop(sops, "SOP-EASC-DOSE").to_dict()
    assert list(data)[:6] == ["id", "version", "status", "title", "kind", "hash"]
    assert data["dose"]["max_concentration"] == {
        "text": "5e6 cell/mL",
        "value": 5e6,
        "measure": "cells_per_ml",
    }
    assert data["effective"] == "2026-12-01"


def test_default_dir_and_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CELLBATCH_SOPS_DIR", raising=False)
    assert default_sops_dir() == SOPS_DIR
    monkeypatch.setenv("CELLBATCH_SOPS_DIR", str(tmp_path))
    assert default_sops_dir() == tmp_path
    assert load_sops() == []
    with pytest.raises(NotFound):
        load_sops(tmp_path / "missing")


def test_module_is_pure() -> None:
    code = (
        "import sys, cellbatch.domain.sop; "
        "bad = {'sqlalchemy', 'sqlmodel', 'textual', 'reportlab', 'typer'} & set(sys.modules); "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=SOPS_DIR.parent)


# --------------------------------------------------------------------------- content hash


def test_hash_ignores_comments_and_layout(tmp_path: Path) -> None:
    original = SOPS_DIR / "SOP-EASC-EXP_v1.0.toml"
    text = original.read_text(encoding="utf-8")
    commented = write(tmp_path, "# reviewed 2026-02-01\n" + text.replace("\n\n", "\n\n# note\n"))
    rewritten = write(tmp_path, dump_toml(tomllib.loads(text)), "rewritten.toml")
    expected = load_sop(original).content_hash
    assert load_sop(commented).content_hash == expected
    assert load_sop(rewritten).content_hash == expected


def test_hash_changes_with_any_value(tmp_path: Path) -> None:
    text = (SOPS_DIR / "SOP-EASC-EXP_v1.0.toml").read_text(encoding="utf-8")
    expected = load_sop(SOPS_DIR / "SOP-EASC-EXP_v1.0.toml").content_hash
    changed = write(tmp_path, text.replace("max = 4000", "max = 4500"))
    assert load_sop(changed).content_hash != expected
    reworded = write(tmp_path, text.replace('title = "Harvest"', 'title = "Harvest "'), "b.toml")
    assert load_sop(reworded).content_hash != expected


def test_hash_is_never_read_from_the_file(tmp_path: Path) -> None:
    text = (SOPS_DIR / "SOP-EASC-EXP_v1.0.toml").read_text(encoding="utf-8")
    path = write(tmp_path, text.replace('id = "SOP-EASC-EXP"', 'id = "SOP-EASC-EXP"\nhash = "x"'))
    error = refused(path)
    assert error.field == "hash" and "computed by the program" in error.message


# --------------------------------------------------------------------------- refusals


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'id = "SOP-X"\nversion = "1.0"\ntitle = oops\n')
    error = refused(path)
    assert error.field == "line 3"
    assert "TOML syntax error" in error.message


def test_unknown_step_kind(tmp_path: Path) -> None:
    doc = shipped_doc("SOP-EASC-EXP")
    doc["steps"][1]["kind"] = "incubate"
    error = refused(write(tmp_path, doc))
    assert error.field == "steps[1].kind" and "'incubate'" in error.message


def test_step_kind_of_the_other_sop_kind(tmp_path: Path) -> None:
    doc = shipped_doc("SOP-EASC-EXP")
    doc["steps"][1]["kind"] = "fill"
    error = refused(write(tmp_path, doc))
    assert error.field == "steps[1].kind" and "expansion SOP has no fill step" in error.message


def test_duplicate_step_id(tmp_path: Path) -> None:
    doc = shipped_doc("SOP-EASC-EXP")
    doc["steps"][2]["id"] = "seed"
    error = refused(write(tmp_path, doc))
    assert error.field == "steps[2].id" and "duplicate step id 'seed'" in error.message


def test_duplicate_qc_id(tmp_path: Path) -> None:
    doc = shipped_doc("SOP-EASC-EXP")
    doc["qc"][3]["id"] = doc["qc"][1]["id"]
    error = refused(write(tmp_path, doc))
    assert error.field == "qc[3].id" and "duplicate QC id" in error.message


def test_duplicate_parameter_name(tmp_path: Path) -> None:
    doc = shipped_doc("SOP-EASC-EXP")
    doc["steps"][0]["parameters"].append(copy.deepcopy(doc["steps"][0]["parameters"][0]))
    error = refused(write(tmp_path, doc))
    assert error.field == "steps[0].parameters[3].name"


@pytest.mark.parametrize(
    ("sop_name", "kind", "name"),
    [
        (sop_name, kind, name)
        for sop_name, kinds in [
            ("SOP-EASC-EXP", ("seed", "harvest", "freeze")),
            ("SOP-FUC-BMMSC-DOSE", ("thaw", "fucosylation", "fill")),
        ]
        for kind in kinds
        for name in REQUIRED_PARAMETERS[kind]
    ],
)
def test_missing_required_parameter(tmp_path: Path, sop_name: str, kind: str, name: str) -> None:
    doc = shipped_doc(sop_name)
    i = step_index(doc, kind)
    del doc["steps"][i]["parameters"][param_index(doc["steps"][i], name)]
    error = refused(write(tmp_path, doc))
    assert error.field == f"steps[{i}].parameters"
    assert f"a {kind} step needs the parameter '{name}'" in error.message


@pytest.mark.parametrize(
    ("kind", "name", "unit"),
    [
        ("harvest", "viability", "cell"),
        ("harvest", "total_cells", "mL"),
        ("seed", "vessels", "%"),
        ("freeze", "volume_per_vial", "g"),
        ("seed", "seeding_density", "cell/mL"),
    ],
)
def test_required_parameter_with_incompatible_unit(
    tmp_path: Path, kind: str, name: str, unit: str
) -> None:
    doc = shipped_doc("SOP-EASC-EXP")
    i = step_index(doc, kind)
    j = param_index(doc["steps"][i], name)
    doc["steps"][i]["parameters"][j]["unit"] = unit
    error = refused(write(tmp_path, doc))
    assert error.field == f"steps[{i}].parameters[{j}].unit"
    assert f"{name} is " in error.message and repr(unit) in error.message


def test_compatible_unit_is_converted_to_canonical(tmp_path: Path) -> None:
    doc = shipped_doc("SOP-FUC-BMMSC-DOSE")
    i = step_index(doc, "fucosylation")
    j = param_index(doc["steps"][i], "duration")
    doc["steps"][i]["parameters"][j].update(unit="h", min=0.5, max=1.25)
    param = load_sop(write(tmp_path, doc)).step("fucosylation").param("duration")
    assert (param.min, param.unit) == (0.5, "h")
    assert (param.min_canonical, param.max_canonical) == (30, 75)


def test_unknown_unit(tmp_path: Path) -> None:
    doc = shipped_doc("SOP-EASC-EXP")
    doc["steps"][0]["parameters"].append(
        {"name": "splash", "label": "Splash", "unit": "furlongs_per_cell", "critical": False}
    )
    error = refused(write(tmp_path, doc))
    assert error.field == "steps[0].parameters[3].unit"


def test_parameter_min_above_max(tmp_path: Path) -> None:
    doc = shipped_doc("SOP-EASC-EXP")
    j = param_index(doc["steps"][0], "seeding_density")
    doc["steps"][0]["parameters"][j]["min"] = 5000
    error = refused(write(tmp_path, doc))
    assert error.field == f"steps[0].parameters[{j}].min"
    assert error.message == "min 5000 is greater than max 4000"


def test_parameter_limit_impossible_for_its_measure(tmp_path: Path) -> None:
    doc = shipped_doc("SOP-EASC-EXP")
    j = param_index(doc["steps"][1], "viability")
    doc["steps"][1]["parameters"][j]["max"] = 120
    error = refused(write(tmp_path, doc))
    assert error.field == f"steps[1].parameters[{j}].max"


def test_computed_parameter_must_not_be_an_input(tmp_path: Path) -> None:
    doc = shipped_doc("SOP-EASC-EXP")
    j = param_index(doc["steps"][0], "seeding_density")
    doc["steps"][0]["parameters"][j]["input"] = True
    error = refused(write(tmp_path, doc))
    assert error.field == f"steps[0].parameters[{j}].input"
    assert "computed by the program" in error.message


def test_qc_min_above_max(tmp_path: Path) -> None:
    doc = shipped_doc("SOP-EASC-DOSE")
    k = next(k for k, t in enumerate(doc["qc"]) if t["test"] == "cell-dose")
    doc["qc"][k]["min"] = 115
    error = refused(write(tmp_path, doc))
    assert error.field == f"qc[{k}].min"


def test_expiry_from_fucosylation_end_needs_a_fucosylation_step(tmp_path: Path) -> None:
    doc = shipped_doc("SOP-EASC-DOSE")
    doc["dose"]["expiry_from"] = "fucosylation_end"
    error = refused(write(tmp_path, doc))
    assert error.field == "dose.expiry_from" and "no fucosylation step" in error.message


def test_fucosylation_window_needs_a_fucosylation_step(tmp_path: Path) -> None:
    doc = shipped_doc("SOP-EASC-DOSE")
    doc["windows"]["fucosylation_end_to_fill_max"] = "1 h"
    error = refused(write(tmp_path, doc))
    assert error.field == "windows.fucosylation_end_to_fill_max"


def test_expiry_from_fucosylation_end_without_the_step_in_the_fuc_sop(tmp_path: Path) -> None:
    doc = shipped_doc("SOP-FUC-BMMSC-DOSE")
    del doc["steps"][step_index(doc, "fucosylation")]
    del doc["windows"]["fucosylation_end_to_fill_max"]
    error = refused(write(tmp_path, doc))
    assert error.field == "dose.expiry_from"


@pytest.mark.parametrize(
    ("sop_name", "order", "field", "message"),
    [
        (
            "SOP-EASC-EXP",
            ["harvest", "seed", "freeze"],
            "steps[0].kind",
            "harvest comes before seed",
        ),
        ("SOP-EASC-EXP", ["seed", "freeze", "harvest"], "steps[1].kind", "freeze must be the last"),
        ("SOP-EASC-EXP", ["freeze", "seed", "harvest"], "steps[0].kind", "freeze must be the last"),
        (
            "SOP-FUC-BMMSC-DOSE",
            ["thaw", "fill", "fucosylation"],
            "steps[2].kind",
            "fucosylation comes after fill",
        ),
        ("SOP-FUC-BMMSC-DOSE", ["fucosylation", "thaw", "fill"], "steps[1].kind", "thaw must be"),
        ("SOP-EASC-DOSE", ["fill", "thaw"], "steps[1].kind", "thaw must be the first"),
    ],
)
def test_steps_in_an_impossible_order(
    tmp_path: Path, sop_name: str, order: list[str], field: str, message: str
) -> None:
    doc = shipped_doc(sop_name)
    by_kind = {s["kind"]: s for s in doc["steps"]}
    doc["steps"] = [by_kind[kind] for kind in order]
    error = refused(write(tmp_path, doc))
    assert error.field == field and message in error.message


def test_fill_not_last(tmp_path: Path) -> None:
    doc = shipped_doc("SOP-EASC-DOSE")
    extra = copy.deepcopy(doc["steps"][0])
    extra["id"] = "thaw-again"
    doc["steps"].append(extra)
    error = refused(write(tmp_path, doc))
    assert error.field == "steps[2].kind" and "a second thaw step" in error.message


def test_missing_step(tmp_path: Path) -> None:
    doc = shipped_doc("SOP-EASC-EXP")
    del doc["steps"][step_index(doc, "freeze")]
    error = refused(write(tmp_path, doc))
    assert error.field == "steps" and "needs a freeze step" in error.message


@pytest.mark.parametrize("version", ["1", "v1.0", "1.0.1", "01.0", "1.x", ""])
def test_version_format(tmp_path: Path, version: str) -> None:
    doc = shipped_doc("SOP-EASC-EXP")
    doc["version"] = version
    error = refused(write(tmp_path, doc))
    assert error.field == "version" and "MAJOR.MINOR" in error.message


def test_version_must_be_a_string(tmp_path: Path) -> None:
    text = (SOPS_DIR / "SOP-EASC-EXP_v1.0.toml").read_text(encoding="utf-8")
    error = refused(write(tmp_path, text.replace('version = "1.0"', "version = 1.0")))
    assert error.field == "version"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.update(colour="blue"), "colour"),
        (
            lambda d: d["steps"][0]["parameters"][0].update(critcal=True),
            "steps[0].parameters[0].critcal",
        ),
        (lambda d: d.pop("title"), "title"),
        (lambda d: d.update(status="final"), "status"),
        (lambda d: d.update(kind="bank"), "kind"),
        (lambda d: d.pop("approved_by"), "approved_by"),
        (lambda d: d.update(id="sop easc"), "id"),
        (lambda d: d.update(tissues=["cord-blood"]), "tissues[0]"),
        (lambda d: d.update(dose=shipped_doc("SOP-EASC-DOSE")["dose"]), "dose"),
        (lambda d: d.update(parent_sops=["SOP-EASC-EXP"]), "parent_sops"),
        (lambda d: d["expansion"].update(vessels=["T75", "T1000"]), "expansion.vessels[1]"),
        (lambda d: d["expansion"].update(min_bank_passage=7), "expansion.min_bank_passage"),
        (lambda d: d["expansion"].update(max_passage=True), "expansion.max_passage"),
        (lambda d: d["steps"][2].update(materials=["glitter"]), "steps[2].materials[0]"),
        (
            lambda d: d["steps"][1]["parameters"][0].update(critical="yes"),
            "steps[1].parameters[0].critical",
        ),
        (lambda d: d["qc"][0].pop("unit"), "qc[0].unit"),
        (lambda d: d["qc"][1].update(expected="sterile"), "qc[1].expected"),
        (lambda d: d["qc"][1].update(allowed=[]), "qc[1].allowed"),
        (lambda d: d["qc"][3].update(stage="release", test="sterility"), "qc[3].test"),
        (lambda d: d["qc"][0].update(max_exclusive=True), "qc[0].max_exclusive"),
        (lambda d: d.update(qc=[]), "qc"),
    ],
)
def test_expansion_sop_refusals(tmp_path: Path, mutate: Any, field: str) -> None:
    doc = shipped_doc("SOP-EASC-EXP")
    mutate(doc)
    assert refused(write(tmp_path, doc)).field == field


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["dose"].update(max_concentration="5e6 cell"), "dose.max_concentration"),
        (lambda d: d["dose"].update(max_concentration=5e6), "dose.max_concentration"),
        (
            lambda d: d["dose"].update(max_concentration={"text": "x", "value": 1, "measure": "x"}),
            "dose.max_concentration",
        ),
        (
            lambda d: d["dose"].update(cohort_doses=["1e6 cell/kg", "2e6 cell/mL"]),
            "dose.cohort_doses[1]",
        ),
        (
            lambda d: d["dose"].update(cohort_doses=["1e6 cell/kg", "1e6 cells/kg"]),
            "dose.cohort_doses[1]",
        ),
        (lambda d: d["dose"].update(cohort_doses=[]), "dose.cohort_doses"),
        (lambda d: d["dose"].update(infusion_days=[1, 15, 8]), "dose.infusion_days[2]"),
        (lambda d: d["dose"].update(shelf_life="4"), "dose.shelf_life"),
        (lambda d: d["dose"].update(tolerance_percent=0), "dose.tolerance_percent"),
        (lambda d: d["dose"].update(max_concentration="6e6 cell/mL"), "steps[1].parameters[2].max"),
        (lambda d: d["dose"].update(max_vials_per_thaw=4), "steps[0].parameters[0].max"),
        (lambda d: d["windows"].update(thaw_to_fill_max="3 mL"), "windows.thaw_to_fill_max"),
        (lambda d: d.update(parent_sops=[]), "parent_sops"),
        (lambda d: d.update(parent_sops=["SOP-EASC-DOSE"]), "parent_sops[0]"),
        (lambda d: d.update(tissues=["adipose"]), "tissues"),
        (lambda d: d.pop("dose"), "dose"),
    ],
)
def test_dose_sop_refusals(tmp_path: Path, mutate: Any, field: str) -> None:
    doc = shipped_doc("SOP-EASC-DOSE")
    mutate(doc)
    assert refused(write(tmp_path, doc)).field == field


def test_empty_file(tmp_path: Path) -> None:
    assert refused(write(tmp_path, "")).field == "id"


def test_unreadable_and_non_utf8_files(tmp_path: Path) -> None:
    assert refused(tmp_path / "missing.toml").field == "file"
    path = tmp_path / "latin1.toml"
    path.write_bytes('title = "37 °C"\n'.encode("latin-1"))
    assert refused(path).field == "file"


def test_duplicate_id_and_version_in_a_folder(tmp_path: Path) -> None:
    text = (SOPS_DIR / "SOP-EASC-EXP_v1.0.toml").read_text(encoding="utf-8")
    write(tmp_path, text, "a.toml")
    second = write(tmp_path, text.replace("target_vials = 40", "target_vials = 41"), "b.toml")
    with pytest.raises(InvalidSop) as info:
        load_sops(tmp_path)
    assert info.value.field == "version"
    # neither file can be trusted to be that version: both are set aside, each naming the other
    folder = load_sop_folder(tmp_path)
    assert folder.sops == ()
    assert [(p.path, p.field) for p in folder.problems] == [
        (str(tmp_path / "a.toml"), "version"),
        (str(second), "version"),
    ]
    assert "b.toml" in folder.problems[0].message and "a.toml" in folder.problems[1].message


def test_parse_sop_names_the_source() -> None:
    doc = shipped_doc("SOP-EASC-EXP")
    doc["version"] = "one"
    with pytest.raises(InvalidSop, match=r"^<memory>: version: "):
        parse_sop(doc, source="<memory>")


# --------------------------------------------------------------------------- QC evaluation


@pytest.fixture(scope="module")
def dose_sop(sops: list[Sop]) -> Sop:
    return find_sop(sops, "SOP-EASC-DOSE")


def test_evaluate_minimum(dose_sop: Sop) -> None:
    viability = dose_sop.qc_test("viability")
    assert viability.spec_text() == "≥ 70 %"
    assert viability.evaluate(70.0) and viability.evaluate(98)
    assert not viability.evaluate(69.9)
    assert viability.evaluate("75 %") and not viability.evaluate("65 %")
    with pytest.raises(InvalidInput):
        viability.evaluate("negative")
    with pytest.raises(InvalidInput):
        viability.evaluate(float("nan"))
    with pytest.raises(InvalidInput):
        viability.evaluate(True)


def test_evaluate_exclusive_maximum(dose_sop: Sop) -> None:
    endotoxin = dose_sop.qc_test("endotoxin")
    assert endotoxin.max_exclusive and endotoxin.spec_text() == "< 0.5 EU/mL"
    assert endotoxin.evaluate(0.49) and endotoxin.evaluate(0)
    assert not endotoxin.evaluate(0.5) and not endotoxin.evaluate(0.7)
    assert endotoxin.evaluate("0.3 EU/mL") and not endotoxin.evaluate("0.5 EU/mL")
    with pytest.raises(InvalidInput):
        endotoxin.evaluate("0.3 mL")


def test_evaluate_inclusive_maximum(sops: list[Sop]) -> None:
    cd45 = find_sop(sops, "SOP-EASC-EXP").qc_test("cd45")
    assert cd45.evaluate(2.0) and cd45.evaluate(0.4)
    assert not cd45.evaluate(2.01)


def test_evaluate_range_above_100_percent(dose_sop: Sop) -> None:
    dose = dose_sop.qc_test("cell-dose")
    assert dose.evaluate(90) and dose.evaluate(105) and dose.evaluate(110)
    assert dose.evaluate("104.5 %")
    assert not dose.evaluate(89.9) and not dose.evaluate(110.1) and not dose.evaluate("120 %")


def test_evaluate_qualitative(dose_sop: Sop) -> None:
    gram = dose_sop.qc_test("gram-stain")
    assert gram.qualitative and gram.allowed == ("negative", "positive")
    assert gram.evaluate("negative") and gram.evaluate(" Negative ")
    assert not gram.evaluate("positive")
    with pytest.raises(InvalidInput, match="enter one of: negative, positive"):
        gram.evaluate("maybe")
    with pytest.raises(InvalidInput):
        gram.evaluate(0.0)
    sterility = dose_sop.qc_test("sterility")
    assert sterility.evaluate("No growth") and not sterility.evaluate("growth")


def test_exclusive_minimum(tmp_path: Path) -> None:
    doc = shipped_doc("SOP-EASC-DOSE")
    doc["qc"][0].update(min=70, min_exclusive=True)
    test = load_sop(write(tmp_path, doc)).qc_test("viability")
    assert test.spec_text() == "> 70 %"
    assert not test.evaluate(70) and test.evaluate(70.1)
