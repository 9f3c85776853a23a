"""Freeze: cryopreserve the last harvest into vials, each with its storage position."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cellbatch import units
from cellbatch.domain import growth
from cellbatch.domain.errors import InvalidInput
from cellbatch.domain.steps.base import Field, Outcome, StepContext, StepKind, check_inputs
from cellbatch.domain.text import LOCATION, MAX_POSITION


class Freeze(StepKind):
    """The bank: vials × cells per vial, never more than harvested, from the minimum passage."""

    name = "freeze"
    sop_kind = "expansion"
    order = 2
    verb = "vials frozen"
    writes_more = "its vials"
    fields = (
        Field("vials", "--vials", "vials", "count", form="count", correctable=False),
        Field("cells_per_vial", "--cells-per-vial", "cells_per_vial", "cells"),
        Field("volume_per_vial", "--volume-per-vial", "volume_per_vial", "volume"),
        Field("location", "--location", "location", form="text", label="Storage location"),
        Field(
            "first_position",
            "--first-position",
            "first_position",
            form="count",
            required=False,
            correctable=False,
            label="First box position",
        ),
    )

    def rules(self, out: Outcome, ctx: StepContext) -> None:
        """Bank passage, vial count, ranges, cells available, location and positions."""
        values = out.values
        last = ctx.before[-1] if ctx.before else None
        rules = ctx.expansion
        if last is not None and rules is not None:
            out.passage = last.passage
            if (last.passage or 0) < rules.min_bank_passage:
                out.refuse(
                    f"the bank cannot be frozen at P{last.passage}: "
                    f"{ctx.sop_label} banks from P{rules.min_bank_passage}"
                )
        vials = values.get("vials")
        if vials is not None:
            vials = values["vials"] = int(vials)
            p = ctx.param("vials")
            if vials < 1 or (p is not None and not p.in_range(vials)):
                shown = p.range_text() if p is not None else ""
                out.refuse(f"expected {shown or 'at least 1'} vials, got {vials}", "--vials")
                vials = None
        check_inputs(out, ctx, self.fields[1:3])
        per_vial = values.get("cells_per_vial")
        if last is not None and last.kind == "harvest" and vials and per_vial:
            harvested = growth.viable_cells(last.values["total_cells"], last.values["viability"])
            frozen = out.computed["cells_frozen"] = per_vial * vials
            if frozen > harvested * (1 + 1e-12):
                out.refuse(
                    f"{vials} vials × {units.fmt(per_vial, 'cells')} = "
                    f"{units.fmt(frozen, 'cells')} is more than the viable cells harvested "
                    f"({units.fmt(harvested, 'cells')})",
                    "--vials",
                )
        if values.get("location") is not None:
            try:
                values["location"] = LOCATION.check(values["location"], "--location")
            except InvalidInput as error:
                out.refuse(error.message, "--location")
        first = values.pop("first_position", None)
        if first is not None and vials:
            out.computed["first_position"] = first
            if first < 1 or first + vials - 1 > MAX_POSITION:
                out.refuse(
                    f"expected a position from 1 to {MAX_POSITION - vials + 1} for {vials} "
                    f"vials (positions 1 to {MAX_POSITION}), got {first}",
                    "--first-position",
                )

    def preview(self, values: Mapping[str, Any], ctx: StepContext) -> list[str]:
        """Cells to freeze, and whether the harvest holds them."""
        out = self.check(values, ctx)
        if "cells_frozen" not in out.computed:
            return []
        lines = [
            f"Cells to freeze: {out.values['vials']} × "
            f"{units.fmt(out.values['cells_per_vial'], 'cells')} = "
            f"{units.fmt(out.computed['cells_frozen'], 'cells')}"
        ]
        lines += [f"✗ {r.message}" for r in out.refusals if r.option == "--vials"]
        return lines

    def next_allowed(self, ctx: StepContext) -> bool:
        """Only from the SOP's minimum bank passage."""
        last = ctx.before[-1] if ctx.before else None
        rules = ctx.expansion
        return not (
            rules
            and (last is None or last.passage is None or last.passage < rules.min_bank_passage)
        )


KIND = Freeze()
