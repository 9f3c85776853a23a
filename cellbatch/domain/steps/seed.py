"""Seed: plate viable cells in vessels; the seeding density must be within the SOP range."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cellbatch import units
from cellbatch.domain import growth
from cellbatch.domain.steps.base import Field, Outcome, StepContext, StepKind, check_range
from cellbatch.domain.text import visible


def vessel_problem(vessel: str, ctx: StepContext) -> str | None:
    """Why a vessel cannot be used under the SOP (None when it can)."""
    allowed = ctx.expansion.vessels if ctx.expansion else ()
    if vessel in allowed:
        return None
    return (
        f"expected one of {', '.join(allowed)} (allowed by {ctx.sop_label}), "
        f"got {visible(vessel[:40])!r}"
    )


class Seed(StepKind):
    """A passage starts: vessels × area, viable cells seeded → seeding density."""

    name = "seed"
    sop_kind = "expansion"
    order = 0
    verb = "passage seeded"
    fields = (
        Field("viable_cells", "--cells", "cells", "cells"),
        Field("vessels", "--vessels", "vessels", "count", form="count"),
        Field("seeding_density", "--cells", "cells", "cells_per_cm2", computed=True),
        Field("vessel", "--vessel", "vessel", form="choice", label="Vessel type"),
    )

    def rules(self, out: Outcome, ctx: StepContext) -> None:
        """Passage limit, vessel, count of vessels, cells available, seeding density."""
        values = out.values
        rules = ctx.expansion
        previous_seed = ctx.last("seed")
        out.passage = 0 if previous_seed is None else (previous_seed.passage or 0) + 1
        if rules is not None and out.passage > rules.max_passage:
            out.refuse(
                f"passage P{out.passage} is beyond the SOP's maximum "
                f"P{rules.max_passage} ({ctx.sop_label})"
            )
        vessel = values.get("vessel")
        problem = None
        if vessel is not None:
            vessel = values["vessel"] = str(vessel).strip().upper()
            problem = vessel_problem(vessel, ctx)
            if problem:
                out.refuse(problem, "--vessel")
        count = values.get("vessels")
        if count is not None:
            count = values["vessels"] = int(count)
            count_param = ctx.param("vessels")
            if count < 1 or (count_param and not count_param.in_range(count)):
                rng = count_param.range_text() if count_param else "at least 1"
                out.refuse(f"expected a number of vessels {rng}, got {count}", "--vessels")
                count = None
        area = None
        if vessel and problem is None and rules is not None and count:
            area = out.computed["area_cm2"] = rules.vessel_area_cm2(vessel) * count
        viable = values.get("viable_cells")
        if viable is None:
            return
        viable = float(viable)
        check_range(out, ctx, self.fields[0], viable)
        if viable <= 0:
            out.refuse("expected a positive number of viable cells", "--cells")
            return
        harvest = ctx.last("harvest")
        if harvest is not None:
            available = growth.viable_cells(
                harvest.values["total_cells"], harvest.values["viability"]
            )
            if viable > available * (1 + 1e-12):
                out.refuse(
                    f"{units.fmt(viable, 'cells')} is more than the viable cells harvested "
                    f"at P{harvest.passage} ({harvest.ref}: {units.fmt(available, 'cells')})",
                    "--cells",
                )
        if area is not None:
            density = out.computed["seeding_density"] = growth.seeding_density(viable, area)
            check_range(out, ctx, self.fields[2], density, what="the seeding density")

    def preview(self, values: Mapping[str, Any], ctx: StepContext) -> list[str]:
        """Growth area, seeding density and the passage number."""
        out = self.check(values, ctx)
        lines = []
        if "area_cm2" in out.computed:
            lines.append(
                f"Growth area: {out.values['vessels']} × {out.values['vessel']} = "
                f"{out.computed['area_cm2']:g} cm²"
            )
        if "seeding_density" in out.computed:
            shown = units.fmt(out.computed["seeding_density"], "cells_per_cm2")
            p = ctx.param("seeding_density")
            bad = p is not None and not p.in_range(out.computed["seeding_density"])
            lines.append(
                f"Seeding density: {shown} ✗ outside {p.range_text()}"
                if bad and p is not None
                else f"Seeding density: {shown} ✓"
            )
        lines.append(f"This will be passage P{out.passage}")
        return lines

    def next_allowed(self, ctx: StepContext) -> bool:
        """Not beyond the SOP's last passage."""
        seed = ctx.last("seed")
        rules = ctx.expansion
        return not (seed and rules and (seed.passage or 0) + 1 > rules.max_passage)


KIND = Seed()
