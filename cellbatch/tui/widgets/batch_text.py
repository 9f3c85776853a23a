"""A batch read model as terminal text: chain of identity, timeline, growth chart, QC."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from cellbatch.tui.clock import iso_short

if TYPE_CHECKING:
    from cellbatch.services.queries.batch_view_model import BatchView, DosePart, QcView
    from cellbatch.services.queries.plain import Quantity

BAR = "█"
"""The block a growth chart is drawn with."""


def q(value: Quantity | None) -> str:
    """A quantity from the read model as shown (``—`` when absent)."""
    return value.display if value else "—"


def number(value: Quantity | None) -> str:
    """A quantity's number alone, for a column whose heading gives the unit."""
    return value.display.split(" ", 1)[0] if value else "—"


def din_text(code: str) -> str:
    """A DIN as printed: ``A9999 26 000001 [8]`` (check character in brackets)."""
    from cellbatch.isbt128 import Din

    try:
        din = Din.from_code(code)
    except Exception:  # an unreadable stored DIN is shown as stored
        return code
    return f"{din.eye_readable} [{din.check}]"


def chain_text(view: BatchView) -> Text:
    """Donor → DIN → bank → dose → recipient, and the status in words."""
    donor = view.donor
    parts = [
        f"Donor {donor.code} ({donor.relationship}, {donor.eligibility})",
        f"DIN {din_text(view.din)}",
    ]
    if view.expansion is not None:
        parts.append(f"bank {view.code}")
        children = view.expansion.children
        if children:
            parts.append("doses " + ", ".join(c.code for c in children))
    elif view.dose is not None:
        parts += [
            f"bank {view.dose.parent}",
            f"dose {view.code}",
            f"recipient {view.dose.recipient}",
        ]
    text = Text(" → ".join(parts))
    text.append(f"\nStatus: {view.status.upper()}", style="bold")
    text.append(f" · {view.sop.id} v{view.sop.version} · {view.product}")
    return text


def timeline_text(view: BatchView, steps: list[tuple[str, str]]) -> Text:
    """The SOP's steps: each recorded one in order (who, when), then next, then later."""
    titles = dict(steps)
    text = Text()
    for e in view.steps:
        passage = f" P{e.passage}" if e.passage is not None else ""
        text.append("✓ DONE  ", style="bold green")
        text.append(
            f"{e.kind}{passage} · {e.id} · {iso_short(e.performed_at)} UTC · "
            f"{e.recorded_by.username}"
        )
        if e.corrected_fields:
            text.append(f" · corrected: {', '.join(e.corrected_fields)}")
        text.append("\n")
    done = {e.kind for e in view.steps}
    next_steps = list(view.next_steps)
    for kind in next_steps:
        text.append("▶ NEXT  ", style="bold yellow")
        text.append(f"{titles.get(kind, kind)}\n")
    if view.locked:
        text.append(f"■ CLOSED  batch {view.status}: no further entry\n", style="bold")
        return text
    later = [k for k, _t in steps if k not in done and k not in next_steps]
    previous = next_steps[-1] if next_steps else None
    for kind in later:
        text.append("· LATER ", style="dim")
        text.append(f"{titles[kind]} (after {previous or 'the steps before'})\n")
        previous = kind
    if not next_steps and not later:
        text.append("■ ALL STEPS RECORDED: QC and QA decision next\n", style="bold")
    return text


def growth_chart(view: BatchView, width: int = 40) -> Text:
    """Cumulative population doublings per passage as bars, with the SOP's ceiling."""
    x = view.expansion
    harvests = [(p.passage, p.harvest) for p in (x.passages if x else ()) if p.harvest]
    ceiling = (x.limits.max_cumulative_pd if x else None) or 1.0
    text = Text(f"Cumulative PD per passage (ceiling {ceiling:g} = |)\n")
    for passage, h in harvests:
        cum = h.cumulative_population_doublings
        filled = int(round(width * min(cum, ceiling) / ceiling))
        bar = BAR * filled + " " * (width - filled) + "|"
        text.append(f"P{passage:<2} ")
        text.append(bar, style="green")
        text.append(f" {cum:5.2f} (+{h.population_doublings:.2f})\n")
    if not harvests:
        text.append("no harvest recorded yet\n")
    return text


def qc_verdict(item: QcView) -> str:
    """PASS or FAIL in words and a symbol, never by colour alone."""
    return "✓ PASS" if item.passed else "✗ FAIL (OOS)"


def qc_value(item: QcView) -> str:
    """A QC result's value as shown."""
    return item.shown


def dose_text(view: BatchView) -> Text:
    """Target, thaw, fucosylation, fill and bag of a dose batch."""
    text = Text()
    d: DosePart | None = view.dose
    if d is None:
        return text
    window = d.target_window
    text.append(
        f"Recipient {d.recipient} · {q(d.body_weight)} · {q(d.dose_per_kg)} · "
        f"infusion {d.infusion_number} (day {d.infusion_day})\n"
        f"Target {q(d.target_viable_cells)} ± {d.tolerance_percent:g} % = "
        f"{q(window.low)} to {q(window.high)}\n"
    )
    thaw = d.thaw
    if thaw:
        text.append(
            f"Thaw {thaw.entry}: {thaw.vials} vials "
            f"(#{', '.join(map(str, thaw.vial_numbers))})"
            f" · total {q(thaw.total_cells)} · viability {q(thaw.viability)} · viable "
            f"{q(thaw.viable_cells)} · {iso_short(thaw.thawed_at)}\n"
        )
        for flag in thaw.flags:
            text.append(f"  ⚠ {flag}\n")
    fuc = d.fucosylation
    if fuc:
        v = fuc.values
        text.append(
            f"Fucosylation {fuc.entry}: enzyme {q(v.get('enzyme_concentration'))} · "
            "GDP-fucose "
            f"{q(v.get('gdp_fucose_concentration'))} · {q(v.get('cell_concentration'))} in "
            f"{q(v.get('volume'))} · {q(v.get('temperature'))} · {iso_short(fuc.start)} to "
            f"{iso_short(fuc.end)} ({q(fuc.duration)})\n"
        )
    fill = d.fill
    if fill:
        within = "✓ within tolerance" if fill.within_tolerance else "✗ OUTSIDE tolerance"
        text.append(
            f"Fill {fill.entry}: {q(fill.volume)} · {q(fill.viable_cells)} · "
            f"{q(fill.concentration)} · {q(fill.dose_per_kg)} "
            f"({fill.deviation_from_target_percent:+.1f} % of target, {within})\n"
        )
    bag = d.bag
    if bag:
        text.append(
            f"Bag {bag.number}: DIN {din_text(bag.din)} · product {bag.product_code} · "
            "expires "
            f"{iso_short(bag.expires_at)} UTC\n"
        )
    elif not thaw:
        text.append("Nothing recorded yet: thaw is next.\n")
    return text


def bank_text(view: BatchView) -> Text:
    """The frozen bank of an expansion batch and its vial stock."""
    bank = view.expansion.bank if view.expansion else None
    if not bank:
        return Text("Bank not frozen yet.\n")
    return Text(
        f"Bank {bank.entry} at P{bank.passage}: {bank.vials_frozen} vials × "
        f"{q(bank.cells_per_vial)} in {q(bank.volume_per_vial)} · {bank.location} · "
        f"{view.expansion.vials_left} vials in stock\n"
    )


def entry_summaries(view: BatchView) -> dict[str, str]:
    """What each step entry and QC result of a batch holds, one line each (for the verifier)."""
    out: dict[str, str] = {}
    for step in view.steps:
        parts = []
        for name, value in step.values.items():
            display = getattr(value, "display", None)
            if display is not None:
                parts.append(f"{name.replace('_', ' ')} {display}")
            elif isinstance(value, (list, tuple)):
                parts.append(f"{name.replace('_', ' ')} {', '.join(map(str, value))}")
            elif value not in (None, ""):
                parts.append(f"{name.replace('_', ' ')} {value}")
        parts += [f"lot {m.lot} ({m.kind})" for m in step.materials]
        out[step.id] = " · ".join(parts)
    for item in view.qc:
        verdict = "PASS" if item.passed else "FAIL"
        out[item.id] = f"{qc_value(item)} (specification {item.specification}) {verdict}"
    return out
