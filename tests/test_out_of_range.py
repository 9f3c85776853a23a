"""A critical parameter outside its SOP range does what its SOP says (on_out_of_range):
refused, flagged, or recorded with a deviation opened in the same transaction, which
release needs closed (issue 11)."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cellbatch.domain.sop import parse_sop
from cellbatch.domain.steps import StepContext, kind_of
from cellbatch.services.auth import authenticate
from cellbatch.services.commands import batches, corrections, deviations, steps
from cellbatch.services.queries.batch_view import batch_view
from cellbatch.services.queries.review import review

SOPS = Path(__file__).resolve().parents[1] / "sops"


def who(db, name: str):
    return authenticate(db, name, f"demo-{name}-pass")


def ago(hours: float = 0, minutes: float = 0) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours, minutes=minutes)


def unmet(db, code: str) -> dict[str, str]:
    return {c["id"]: c["detail"] for c in review(db, code).to_dict()["checklist"] if not c["met"]}


@pytest.mark.requirement("GMP-08")
def test_a_thaw_at_65_percent_viability_opens_a_deviation_release_needs_closed(demo_db):
    db = demo_db
    tech1 = who(db, "tech1")
    batches.start_dose(
        db, tech1, "FUC-D002", parent="BMMSC-B001", sop_id="SOP-FUC-BMMSC-DOSE",
        recipient="EB-P001", weight="20 kg", dose="2 x 10^6 cells/kg", infusion=2,
        at=ago(hours=2),
    )  # fmt: skip
    entry = steps.thaw(
        db, tech1, "FUC-D002", vials=2, total_cells="5e7 cells", viability="65 %",
        materials=["DPBS-88812"], at=ago(hours=1),
    )  # fmt: skip
    view = batch_view(db, "FUC-D002").to_dict()
    assert view["sop"]["version"] == "1.2"
    (dev,) = view["deviations"]
    assert dev["status"] == "open" and f"E{entry}" in dev["description"]
    assert "Viability after thaw 65 %" in dev["title"]
    assert "no-open-deviation" in unmet(db, "FUC-D002")
    sup1 = who(db, "sup1")
    deviations.update_deviation(
        db, sup1, dev["id"], classification="minor", investigation="slow thaw in the bath",
        root_cause="water bath at 35 °C", capa="bath checked before each thaw",
    )  # fmt: skip
    assert "no-open-deviation" in unmet(db, "FUC-D002")
    deviations.close_deviation(db, "qa2", "demo-qa2-pass", dev["id"])
    assert "no-open-deviation" not in unmet(db, "FUC-D002")


def test_a_correction_to_a_viability_below_range_opens_the_deviation_too(demo_db):
    db = demo_db
    thaw = next(s for s in batch_view(db, "FUC-D001").to_dict()["steps"] if s["kind"] == "thaw")
    before = {d["id"] for d in batch_view(db, "FUC-D001").to_dict()["deviations"]}
    corrections.correct(
        db, who(db, "tech2"), "FUC-D001", thaw["id"], field="viability", value="65 %",
        reason="read the wrong counter", was="86 %",
    )  # fmt: skip
    new = [d for d in batch_view(db, "FUC-D001").to_dict()["deviations"] if d["id"] not in before]
    assert len(new) == 1 and thaw["id"] in new[0]["description"]


@pytest.mark.parametrize(
    ("action", "refused", "flagged", "deviation"),
    [
        ("refuse", True, False, False),
        ("flag", False, True, False),
        ("deviation", False, True, True),
    ],
)
def test_each_out_of_range_action_of_the_sop(action, refused, flagged, deviation):
    doc = tomllib.loads((SOPS / "SOP-FUC-BMMSC-DOSE_v1.2.toml").read_text(encoding="utf-8"))
    (viability,) = [p for p in doc["steps"][0]["parameters"] if p["name"] == "viability"]
    viability["on_out_of_range"] = action
    sop = parse_sop(doc)
    at = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    ctx = StepContext(
        step=sop.step("thaw"), sop_label=sop.label, at=at, started_at=at - timedelta(hours=1),
        dose=sop.dose, windows=sop.windows, stock=(1, 2),
    )  # fmt: skip
    out = kind_of("thaw").check({"vials": 1, "total_cells": 5e7, "viability": 65.0}, ctx)
    assert bool(out.refusals) is refused and bool(out.flags) is flagged
    assert bool(out.deviations) is deviation
    if refused:
        assert out.refusals[0].option == "--viability"
        assert (
            out.refusals[0].message == "viability after thaw 65 % is outside the SOP range 70–100 %"
        )


def test_the_entry_form_says_what_an_out_of_range_value_will_do():
    from cellbatch.domain.sop import find_sop, load_sops
    from cellbatch.tui.forms import build_form, check_field

    sops = load_sops(SOPS)
    fuc = build_form(find_sop(sops, "SOP-FUC-BMMSC-DOSE"), "thaw")
    easc = build_form(find_sop(sops, "SOP-EASC-DOSE"), "thaw")
    harvest = build_form(find_sop(sops, "SOP-EASC-EXP"), "harvest")
    (deviation,) = [f for f in fuc.fields if f.name == "viability"]
    (flag,) = [f for f in harvest.fields if f.name == "confluence"]  # not critical: a flag
    (cells,) = [f for f in easc.fields if f.name == "total_cells"]
    shown = check_field(deviation, "65 %", None, "2026-06-01")
    assert shown.state == "warn" and "recorded with a deviation" in shown.message
    shown = check_field(flag, "65 %", None, "2026-06-01")
    assert shown.state == "warn" and "recorded and flagged for QA" in shown.message
    assert check_field(cells, "0.2e6 cells", None, "2026-06-01").state == "error"
