"""Harvest: count the passage; population doublings stay under the SOP's ceiling."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cellbatch import units
from cellbatch.domain import growth
from cellbatch.domain.steps.base import (
    Field,
    Outcome,
    Prior,
    StepContext,
    StepKind,
    check_inputs,
)


def doublings_before(entries: Sequence[Prior]) -> float:
    """Cumulative population doublings of the passages harvested in ``entries``."""
    total = 0.0
    seeded = None
    for e in entries:
        if e.kind == "seed":
            seeded = e.values["viable_cells"]
        elif e.kind == "harvest" and seeded:
            harvested = growth.viable_cells(e.values["total_cells"], e.values["viability"])
            if harvested > 0:
                total += growth.population_doublings(seeded, harvested)
    return total


class Harvest(StepKind):
    """The passage's cells: viable cells, PD and cumulative PD under the SOP's ceiling."""

    name = "harvest"
    sop_kind = "expansion"
    order = 1
    verb = "harvest recorded"
    fields = (
        Field("total_cells", "--cells", "total_cells", "cells"),
        Field("viability", "--viability", "viability", "percent", measured=True),
        Field("confluence", "--confluence", "confluence", "percent", measured=True, required=False),
    )

    def rules(self, out: Outcome, ctx: StepContext) -> None:
        """Ranges, viable cells, population doublings against the ceiling."""
        values = out.values
        total = values.get("total_cells")
        if total is not None:
            check_inputs(out, ctx, self.fields[:1])
            if total <= 0:
                out.refuse("expected a positive total cell count", "--cells")
                return
        check_inputs(out, ctx, self.fields[1:])
        via = values.get("viability")
        seed = ctx.last("seed")
        if total is None or via is None or seed is None:
            return
        harvested = out.computed["viable_cells"] = growth.viable_cells(total, via)
        if harvested <= 0:
            out.refuse("gives no viable cells", "--viability")
            return
        out.passage = seed.passage
        pd = out.computed["population_doublings"] = growth.population_doublings(
            seed.values["viable_cells"], harvested
        )
        index = ctx.before.index(seed)
        cumulative = pd + doublings_before(ctx.before[:index])
        out.computed["cumulative_population_doublings"] = cumulative
        rules = ctx.expansion
        if rules is not None and cumulative > rules.max_cumulative_pd:
            out.refuse(
                f"cumulative population doublings would be {cumulative:.2f}, above the SOP's "
                f"ceiling of {rules.max_cumulative_pd:g} ({ctx.sop_label}): the culture "
                "cannot continue"
            )

    def preview(self, values: Mapping[str, Any], ctx: StepContext) -> list[str]:
        """Viable cells harvested, PD of the passage and cumulative PD."""
        out = self.check(values, ctx)
        lines = []
        if "viable_cells" in out.computed:
            lines.append(
                f"Viable cells harvested: {units.fmt(out.computed['viable_cells'], 'cells')}"
            )
        if "population_doublings" in out.computed:
            cumulative = out.computed["cumulative_population_doublings"]
            lines.append(
                f"PD this passage: {out.computed['population_doublings']:.2f} · "
                f"cumulative PD: {cumulative:.2f}"
            )
            if ctx.expansion and cumulative > ctx.expansion.max_cumulative_pd:
                lines.append(f"✗ above the SOP's ceiling of {ctx.expansion.max_cumulative_pd:g}")
        return lines


KIND = Harvest()
