"""The seam of a step kind: a new kind is one domain module and a line in an SOP file.

A test-only "wash" kind (a volume and a count) is defined here, in this file alone, as a
new kind would be in its own module of cellbatch/domain/steps/. Nothing else in the program
changes: the SOP file declares the step, and loading, checking, the entry form, recording,
correcting and the batch view all take it from the kind (docs/architecture.md).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cellbatch.domain.errors import InvalidInput
from cellbatch.domain.steps import Field, Outcome, StepContext, StepKind, register, unregister
from cellbatch.domain.steps.base import check_inputs


class Wash(StepKind):
    """Wash the harvested cells: the volume of wash solution and how many washes."""

    name = "wash"
    sop_kind = "expansion"
    order = 1.5  # after harvest, before freeze
    required = False
    verb = "cells washed"
    fields = (
        Field("wash_volume", "--volume", "volume", "volume"),
        Field("washes", "--washes", "washes", "count", form="count"),
    )

    def rules(self, out: Outcome, ctx: StepContext) -> None:
        """Both values within the SOP's ranges."""
        check_inputs(out, ctx, self.fields)


WASH_STEP = """
[[steps]]
id = "wash"
kind = "wash"
title = "Wash the harvested cells"
repeats = false
materials = ["wash-solution"]

[[steps.parameters]]
name = "wash_volume"
label = "Wash volume"
unit = "mL"
min = 10
max = 50
critical = true

[[steps.parameters]]
name = "washes"
label = "Number of washes"
unit = "count"
min = 1
max = 3
"""


@pytest.fixture
def wash_sops(tmp_path, monkeypatch):
    """The shipped SOPs, with SOP-EASC-EXP 1.0 given a wash step before its freeze."""
    from pathlib import Path

    shipped = Path(__file__).resolve().parents[1] / "sops"
    folder = tmp_path / "sops"
    folder.mkdir()
    for path in shipped.glob("*.toml"):
        text = path.read_text(encoding="utf-8")
        if path.name == "SOP-EASC-EXP_v1.0.toml":
            head, freeze = text.split('\n[[steps]]\nid = "freeze"', 1)
            text = head + WASH_STEP + '\n[[steps]]\nid = "freeze"' + freeze
        (folder / path.name).write_text(text, encoding="utf-8")
    monkeypatch.setenv("CELLBATCH_SOPS_DIR", str(folder))
    register(Wash())
    yield folder
    unregister("wash")


def test_without_its_kind_the_step_is_refused_at_load(tmp_path):
    from cellbatch.domain.errors import InvalidSop
    from cellbatch.domain.sop import load_sop
    from tests.test_sop import SOPS_DIR

    text = (SOPS_DIR / "SOP-EASC-EXP_v1.0.toml").read_text(encoding="utf-8")
    head, freeze = text.split('\n[[steps]]\nid = "freeze"', 1)
    path = tmp_path / "SOP-EASC-EXP_v1.0.toml"
    path.write_text(head + WASH_STEP + '\n[[steps]]\nid = "freeze"' + freeze, encoding="utf-8")
    with pytest.raises(InvalidSop, match=r"steps\[2\]\.kind: unknown step kind 'wash'"):
        load_sop(path)


def test_a_new_kind_is_loaded_checked_shown_recorded_and_corrected(db, wash_sops):
    from cellbatch.domain.sop import find_sop
    from cellbatch.services.commands import corrections, steps
    from cellbatch.services.queries.batch_view import batch_view
    from cellbatch.services.queries.sops import available_sops
    from cellbatch.tui.forms import build_form
    from tests.lab import make_lab

    sop = find_sop(available_sops(), "SOP-EASC-EXP")
    assert [s.kind for s in sop.steps] == ["seed", "harvest", "wash", "freeze"]
    form = build_form(sop, "wash")
    assert [f.name for f in form.fields][:2] == ["wash_volume", "washes"]
    assert "10–50 mL" in form.fields[0].hint
    lab = make_lab(db)
    from cellbatch.services.commands import batches

    now = datetime.now(UTC)
    batches.start_expansion(
        db, lab.tech1, "EXP-W", lot_number="TL-A", sop_id="SOP-EASC-EXP", at=now - timedelta(5)
    )
    steps.seed(
        db, lab.tech1, "EXP-W", vessel="CS2", vessels=1, cells="3e6 cells",
        materials=["MED-1", "SUP-1", "DIS-1"], at=now - timedelta(4),
    )  # fmt: skip
    steps.harvest(
        db, lab.tech1, "EXP-W", total_cells="1.2e8 cells", viability="95 %", confluence="80 %",
        materials=["DIS-1", "WASH-1"], at=now - timedelta(2),
    )  # fmt: skip
    assert batch_view(db, "EXP-W").to_dict()["next_steps"] == ["seed", "wash"]
    with pytest.raises(InvalidInput, match="--volume: wash volume 60 mL is outside the SOP range"):
        steps.record_step(
            db, lab.tech1, "EXP-W", "wash", inputs={"wash_volume": "60 mL", "washes": 2},
            materials=["WASH-1"], at=now - timedelta(1),
        )  # fmt: skip
    entry = steps.record_step(
        db, lab.tech1, "EXP-W", "wash", inputs={"wash_volume": "20 mL", "washes": 2},
        materials=["WASH-1"], at=now - timedelta(1),
    )  # fmt: skip
    (wash,) = [s for s in batch_view(db, "EXP-W").to_dict()["steps"] if s["kind"] == "wash"]
    assert wash["values"]["wash_volume"]["display"] == "20 mL" and wash["values"]["washes"] == 2
    with pytest.raises(InvalidInput, match="--value: number of washes 5 is outside the SOP range"):
        corrections.correct(
            db, lab.tech2, "EXP-W", f"E{entry}", field="washes", value="5", reason="r", was="2"
        )
    corrections.correct(
        db, lab.tech2, "EXP-W", f"E{entry}", field="washes", value="3", reason="r", was="2"
    )
    (wash,) = [s for s in batch_view(db, "EXP-W").to_dict()["steps"] if s["kind"] == "wash"]
    assert wash["values"]["washes"] == 3 and wash["corrected_fields"] == ["washes"]
