"""Fucosylation: reagents, conditions and incubation time within the SOP."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cellbatch import units
from cellbatch.domain.steps.base import (
    Field,
    Outcome,
    StepContext,
    StepKind,
    check_inputs,
    check_range,
    minute,
)


def _time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


class Fucosylation(StepKind):
    """Enzyme and GDP-fucose at their concentrations, the cells, temperature and duration."""

    name = "fucosylation"
    sop_kind = "dose"
    order = 1
    required = False
    verb = "fucosylation recorded"
    writes_more = "its incubation start and end, the time it is done"
    fields = (
        Field("enzyme_concentration", "--enzyme", "enzyme", "mass_conc"),
        Field("gdp_fucose_concentration", "--gdp-fucose", "gdp_fucose", "molar"),
        Field("cell_concentration", "--cells", "cells", "cells_per_ml"),
        Field("volume", "--volume", "volume", "volume"),
        Field("temperature", "--temperature", "temperature", "temperature"),
        Field("duration", "--end", "end", "duration", computed=True),
        Field(
            "start",
            "--start",
            "start",
            form="datetime",
            correctable=False,
            label="Incubation start",
        ),
        Field("end", "--end", "end", form="datetime", correctable=False, label="Incubation end"),
    )

    def rules(self, out: Outcome, ctx: StepContext) -> None:
        """Ranges, start after the thaw, end after start, incubation time."""
        check_inputs(out, ctx, self.fields[:5])
        start, end = _time(out.values.get("start")), _time(out.values.get("end"))
        previous = ctx.before[-1] if ctx.before else None
        if start is not None and previous is not None and start < previous.performed_at:
            out.refuse("is before the thaw was recorded as done", "--start")
        if start is None or end is None:
            return
        if end <= start:
            out.refuse("expected a time after --start", "--end")
            return
        minutes = out.computed["duration"] = (end - start).total_seconds() / 60.0
        check_range(out, ctx, self.fields[5], minutes, what="the incubation time")
        conc, volume = out.values.get("cell_concentration"), out.values.get("volume")
        if conc and volume:
            out.computed["cells_in_reaction"] = conc * volume
        if ctx.dose is not None and ctx.dose.expiry_from == "fucosylation_end":
            out.expires_at = end + ctx.dose.shelf_life.as_timedelta()

    def carry(self, old: Mapping[str, Any], new: dict[str, Any], ctx: StepContext) -> None:
        """A corrected time is the incubation's end: the end moves with it (start stays).

        The step is recorded as done when the incubation ends; a time moved on its own
        would leave the recorded end, the incubation time and the fill's window and
        expiry (which run from the step's time) telling different stories.
        """
        end = _time(old.get("end"))
        if end is not None and minute(end) != minute(ctx.at):
            new["end"] = ctx.at.isoformat()

    def preview(self, values: Mapping[str, Any], ctx: StepContext) -> list[str]:
        """Cells in the reaction, incubation time, and the expiry it starts."""
        out = self.check(values, ctx)
        lines = []
        if "cells_in_reaction" in out.computed:
            lines.append(
                f"Cells in the reaction: {units.fmt(out.computed['cells_in_reaction'], 'cells')}"
            )
        if "duration" in out.computed:
            minutes = out.computed["duration"]
            p = ctx.param("duration")
            if p is not None and not p.in_range(minutes):
                lines.append(f"Incubation: {minutes:.0f} min ✗ outside {p.range_text()}")
            else:
                lines.append(f"Incubation: {minutes:.0f} min ✓")
        return lines


KIND = Fucosylation()
