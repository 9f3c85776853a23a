"""Thaw: take vials of the parent bank (never more than remain, never one twice) and count."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cellbatch import units
from cellbatch.domain import dosing, growth
from cellbatch.domain.steps.base import (
    Field,
    Outcome,
    StepContext,
    StepKind,
    check_inputs,
    minute,
)


class Thaw(StepKind):
    """Vials from stock, total cells and viability after thaw and wash."""

    name = "thaw"
    sop_kind = "dose"
    order = 0
    verb = "vials thawed"
    writes_more = "the vials it takes from stock"
    fields = (
        Field("vials", "--vials", "vials", "count", form="count"),
        Field("total_cells", "--cells", "total_cells", "cells"),
        Field("viability", "--viability", "viability", "percent", measured=True),
        Field(
            "vial_numbers",
            "--vial",
            "vial_numbers",
            form="vials",
            required=False,
            correctable=False,
            label="Vial numbers",
        ),
    )

    def rules(self, out: Outcome, ctx: StepContext) -> None:
        """After the bank's release; vials per thaw, vials in stock (which ones), ranges."""
        released = ctx.parent_released_at
        if released is not None and ctx.at < minute(released):
            bank = f"bank {ctx.parent_code}" if ctx.parent_code else "the bank"
            out.refuse(
                f"{ctx.at:%Y-%m-%d %H:%M} UTC is before {bank} was released "
                f"({released:%Y-%m-%d %H:%M} UTC): a dose's vials are thawed only after QA "
                "released their bank; give the time the vials were thawed",
                "--at",
            )
        values = out.values
        vials = values.get("vials")
        if vials is not None:
            vials = values["vials"] = int(vials)
            limit = ctx.dose.max_vials_per_thaw if ctx.dose else vials
            if not 1 <= vials <= limit:
                out.refuse(f"expected 1 to {limit} vials ({ctx.sop_label}), got {vials}", "--vials")
            elif ctx.stock is None:
                pass
            elif vials > len(ctx.stock):
                remain = len(ctx.stock)
                out.refuse(
                    f"--vials: {vials} vials asked for, but only {remain} remain in the bank"
                )
            else:
                self._choose(out, ctx, vials)
        check_inputs(out, ctx, self.fields[1:3])
        total, via = values.get("total_cells"), values.get("viability")
        if total is not None and via is not None:
            out.computed["viable_cells"] = growth.viable_cells(total, via)

    def _choose(self, out: Outcome, ctx: StepContext, vials: int) -> None:
        stock = ctx.stock or ()
        numbers = out.values.get("vial_numbers")
        if not numbers:
            out.values["vial_numbers"] = list(stock[:vials])
            return
        numbers = [int(n) for n in numbers]
        if len(numbers) != vials:
            out.refuse(
                f"{len(numbers)} vial numbers scanned for {vials} vials: "
                f"expected {vials} different vial numbers",
                "--vial",
            )
            return
        if len(set(numbers)) != vials:
            out.refuse(
                f"a vial is scanned twice: expected {vials} different vial numbers", "--vial"
            )
            return
        gone = [n for n in numbers if n not in stock]
        if gone:
            out.refuse(
                f"--vial: vial {', '.join(map(str, gone))} is not in stock "
                "(already thawed or never frozen)"
            )
        out.values["vial_numbers"] = numbers

    def carry(self, old: Mapping[str, Any], new: dict[str, Any], ctx: StepContext) -> None:
        """Carry a corrected number of vials through to the vials taken.

        Fewer vials keep the first listed and return the others to stock; more take the
        lowest in stock, as a thaw does without vial numbers.
        """
        before = list(old.get("vial_numbers") or [])
        count = int(new.get("vials", len(before)))
        if count <= len(before):
            new["vial_numbers"] = before[:count]
        else:
            more = [n for n in ctx.stock or () if n not in before][: count - len(before)]
            new["vial_numbers"] = before + more if len(more) == count - len(before) else before

    def preview(self, values: Mapping[str, Any], ctx: StepContext) -> list[str]:
        """Which vials, and the viable cells counted."""
        out = self.check(values, ctx)
        lines = [f"✗ {r.message}" for r in out.refusals if r.option in ("--vial", None)]
        if out.values.get("vial_numbers") and not lines:
            lines.append("Vials: " + ", ".join(map(str, out.values["vial_numbers"])))
        if "viable_cells" in out.computed:
            lines.append(f"Viable cells: {units.fmt(out.computed['viable_cells'], 'cells')}")
        if ctx.dose and ctx.dose_per_kg and ctx.body_weight_kg:
            target = dosing.dose_target(
                ctx.dose_per_kg, ctx.body_weight_kg, ctx.dose.tolerance_percent
            )
            lines.append(
                f"Dose target: {units.fmt(target.target_cells, 'cells')} "
                f"({units.fmt(target.low_cells, 'cells')} to "
                f"{units.fmt(target.high_cells, 'cells')})"
            )
        return lines


KIND = Thaw()
