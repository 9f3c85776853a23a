"""Fill: formulate and fill the bag; dose within tolerance, concentration, windows, expiry."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cellbatch import units
from cellbatch.domain import dosing
from cellbatch.domain.steps.base import (
    Field,
    Outcome,
    StepContext,
    StepKind,
    Window,
    check_inputs,
    check_range,
)


class Fill(StepKind):
    """One bag: volume and viable cells, held to the dose window and the SOP's times."""

    name = "fill"
    sop_kind = "dose"
    order = 2
    verb = "bag filled"
    writes_more = "the bag and its cell-dose result"
    fields = (
        Field("volume", "--volume", "volume", "volume"),
        Field("viable_cells", "--cells", "cells", "cells"),
        Field("concentration", "--volume", "volume", "cells_per_ml", computed=True),
    )

    def target(self, ctx: StepContext) -> dosing.DoseTarget | None:
        """The batch's dose target and window, if the batch has a dose."""
        if ctx.dose is None or ctx.dose_per_kg is None or ctx.body_weight_kg is None:
            return None
        return dosing.dose_target(ctx.dose_per_kg, ctx.body_weight_kg, ctx.dose.tolerance_percent)

    def rules(self, out: Outcome, ctx: StepContext) -> None:
        """Ranges, concentration, dose window, then the SOP's windows and the expiry."""
        check_inputs(out, ctx, self.fields[:2])
        volume, viable = out.values.get("volume"), out.values.get("viable_cells")
        if volume is not None and viable is not None:
            self._bag(out, ctx, volume, viable)
        self._times(out, ctx)

    def _bag(self, out: Outcome, ctx: StepContext, volume: float, viable: float) -> None:
        if volume <= 0 or viable <= 0:
            out.refuse("expected a positive volume and cell count", "--volume")
            return
        conc = out.computed["concentration"] = dosing.concentration(viable, volume)
        check_range(out, ctx, self.fields[2], conc, what="the concentration")
        target = self.target(ctx)
        if target is None:
            return
        out.computed["target_cells"] = target.target_cells
        if ctx.body_weight_kg:
            out.computed["dose_per_kg"] = dosing.dose_per_kg(viable, ctx.body_weight_kg)
        if not target.contains(viable):
            out.refuse(
                f"{units.fmt(viable, 'cells')} viable cells is outside the dose tolerance: "
                f"target {units.fmt(target.target_cells, 'cells')} ± "
                f"{target.tolerance_percent:g} % = {units.fmt(target.low_cells, 'cells')} to "
                f"{units.fmt(target.high_cells, 'cells')}",
                "--cells",
            )

    def _times(self, out: Outcome, ctx: StepContext) -> None:
        for window in self.windows(ctx):
            if ctx.at > window.due:
                if window.name == "thaw_to_fill_max":
                    out.refuse(f"the fill is too late: more than {window.limit} after the thaw")
                else:
                    out.refuse(
                        f"the window has closed: the fill is more than {window.limit} after "
                        "the end of fucosylation"
                    )
        fuc = ctx.last("fucosylation")
        if ctx.dose is None:
            return
        if ctx.dose.expiry_from == "fucosylation_end":
            if fuc is None:
                out.refuse(f"{ctx.sop_label} dates expiry from fucosylation, which is not recorded")
                return
            base = fuc.performed_at
        else:
            base = ctx.at
        expires = out.expires_at = base + ctx.dose.shelf_life.as_timedelta()
        if ctx.at >= expires:
            out.refuse(
                f"the window has closed: the product expired at "
                f"{expires:%Y-%m-%d %H:%M} UTC, before this fill"
            )

    def windows(self, ctx: StepContext) -> list[Window]:
        """Fill within the SOP's time from the thaw and from the end of fucosylation."""
        out: list[Window] = []
        windows = ctx.windows
        if windows is None:
            return out
        for name, label, kind in (
            ("thaw_to_fill_max", "fill by (thaw)", "thaw"),
            ("fucosylation_end_to_fill_max", "fill by (fucosyl.)", "fucosylation"),
        ):
            limit = getattr(windows, name)
            start = ctx.last(kind)
            if limit is not None and start is not None:
                due = start.performed_at + limit.as_timedelta()
                out.append(Window(name, label, start, due, limit.display()))
        return out

    def deadlines(self, ctx: StepContext) -> list[tuple[str, datetime]]:
        """The fill's windows, then the expiry when it runs from the end of fucosylation."""
        out = super().deadlines(ctx)
        fuc = ctx.last("fucosylation")
        if fuc and ctx.dose and ctx.dose.expiry_from == "fucosylation_end":
            out.append(
                ("infuse by (expiry)", fuc.performed_at + ctx.dose.shelf_life.as_timedelta())
            )
        return out

    def preview(self, values: Mapping[str, Any], ctx: StepContext) -> list[str]:
        """Concentration, dose per kg, the dose window and the expiry."""
        out = self.check(values, ctx)
        lines = []
        if "concentration" in out.computed:
            shown = units.fmt(out.computed["concentration"], "cells_per_ml")
            p = ctx.param("concentration")
            bad = p is not None and not p.in_range(out.computed["concentration"])
            lines.append(
                f"Concentration: {shown} ✗ outside {p.range_text()}"
                if bad and p is not None
                else f"Concentration: {shown} ✓"
            )
        if "dose_per_kg" in out.computed:
            lines.append(f"Dose: {units.fmt(out.computed['dose_per_kg'], 'cells_per_kg')}")
        target = self.target(ctx)
        if target is not None and out.values.get("viable_cells"):
            window = (
                f"{units.fmt(target.low_cells, 'cells')} to {units.fmt(target.high_cells, 'cells')}"
            )
            inside = target.contains(out.values["viable_cells"])
            lines.append(
                f"✓ within the window {window}" if inside else f"✗ outside the window {window}"
            )
        return lines


KIND = Fill()
