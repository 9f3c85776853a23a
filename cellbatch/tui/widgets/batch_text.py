"""A batch read model as terminal text: chain of identity, timeline, growth chart, QC."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from cellbatch.tui.clock import iso_short

BAR = "█"
"""The block a growth chart is drawn with."""


def q(value: dict[str, Any] | None) -> str:
    """A quantity from the read model as shown (``—`` when absent)."""
    return value["display"] if value else "—"


def number(value: dict[str, Any] | None) -> str:
    """A quantity's number alone, for a column whose heading gives the unit."""
    return value["display"].split(" ", 1)[0] if value else "—"


def din_text(code: str) -> str:
    """A DIN as printed: ``A9999 26 000001 [8]`` (check character in brackets)."""
    from cellbatch.isbt128 import Din

    try:
        din = Din.from_code(code)
    except Exception:  # an unreadable stored DIN is shown as stored
        return code
    return f"{din.eye_readable} [{din.check}]"


def chain_text(view: dict[str, Any]) -> Text:
    """Donor → DIN → bank → dose → recipient, and the status in words."""
    donor = view["donor"]
    parts = [
        f"Donor {donor['code']} ({donor['relationship']}, {donor['eligibility']})",
        f"DIN {din_text(view['din'])}",
    ]
    if view["kind"] == "expansion":
        parts.append(f"bank {view['code']}")
        children = view.get("children") or []
        if children:
            parts.append("doses " + ", ".join(c["code"] for c in children))
    else:
        parts += [
            f"bank {view['parent']}",
            f"dose {view['code']}",
            f"recipient {view['recipient']}",
        ]
    text = Text(" → ".join(parts))
    text.append(f"\nStatus: {view['status'].upper()}", style="bold")
    text.append(f" · {view['sop']['id']} v{view['sop']['version']} · {view['product']}")
    return text


def timeline_text(view: dict[str, Any], steps: list[tuple[str, str]]) -> Text:
    """The SOP's steps: each recorded one in order (who, when), then next, then later."""
    titles = dict(steps)
    text = Text()
    for e in view["steps"]:
        passage = f" P{e['passage']}" if e.get("passage") is not None else ""
        text.append("✓ DONE  ", style="bold green")
        text.append(
            f"{e['kind']}{passage} · {e['id']} · {iso_short(e['performed_at'])} UTC · "
            f"{e['recorded_by']['username']}"
        )
        if e.get("corrected_fields"):
            text.append(f" · corrected: {', '.join(e['corrected_fields'])}")
        text.append("\n")
    done = {e["kind"] for e in view["steps"]}
    for kind in view["next_steps"]:
        text.append("▶ NEXT  ", style="bold yellow")
        text.append(f"{titles.get(kind, kind)}\n")
    if view["status"] in ("released", "rejected"):
        text.append(f"■ CLOSED  batch {view['status']}: no further entry\n", style="bold")
        return text
    later = [k for k, _t in steps if k not in done and k not in view["next_steps"]]
    previous = view["next_steps"][-1] if view["next_steps"] else None
    for kind in later:
        text.append("· LATER ", style="dim")
        text.append(f"{titles[kind]} (after {previous or 'the steps before'})\n")
        previous = kind
    if not view["next_steps"] and not later:
        text.append("■ ALL STEPS RECORDED: QC and QA decision next\n", style="bold")
    return text


def growth_chart(view: dict[str, Any], width: int = 40) -> Text:
    """Cumulative population doublings per passage as bars, with the SOP's ceiling."""
    passages = [p for p in view.get("passages", []) if "cumulative_population_doublings" in p]
    ceiling = view.get("limits", {}).get("max_cumulative_pd") or 1.0
    text = Text(f"Cumulative PD per passage (ceiling {ceiling:g} = |)\n")
    for p in passages:
        cum = p["cumulative_population_doublings"]
        filled = int(round(width * min(cum, ceiling) / ceiling))
        bar = BAR * filled + " " * (width - filled) + "|"
        text.append(f"P{p['passage']:<2} ")
        text.append(bar, style="green")
        text.append(f" {cum:5.2f} (+{p['population_doublings']:.2f})\n")
    if not passages:
        text.append("no harvest recorded yet\n")
    return text


def qc_verdict(item: dict[str, Any]) -> str:
    """PASS or FAIL in words and a symbol, never by colour alone."""
    return "✓ PASS" if item["passed"] else "✗ FAIL (OOS)"


def qc_value(item: dict[str, Any]) -> str:
    """A QC result's value as shown."""
    value = item["value"]
    return value if isinstance(value, str) else value["display"]


def dose_text(view: dict[str, Any]) -> Text:
    """Target, thaw, fucosylation, fill and bag of a dose batch."""
    text = Text()
    window = view["target_window"]
    text.append(
        f"Recipient {view['recipient']} · {q(view['body_weight'])} · {q(view['dose_per_kg'])} · "
        f"infusion {view['infusion_number']} (day {view['infusion_day']})\n"
        f"Target {q(view['target_viable_cells'])} ± {view['tolerance_percent']:g} % = "
        f"{q(window['low'])} to {q(window['high'])}\n"
    )
    thaw = view.get("thaw")
    if thaw:
        text.append(
            f"Thaw {thaw['entry']}: {thaw['vials']} vials "
            f"(#{', '.join(map(str, thaw['vial_numbers']))})"
            f" · total {q(thaw['total_cells'])} · viability {q(thaw['viability'])} · viable "
            f"{q(thaw['viable_cells'])} · {iso_short(thaw['thawed_at'])}\n"
        )
        for flag in thaw.get("flags", []):
            text.append(f"  ⚠ {flag}\n")
    fuc = view.get("fucosylation")
    if fuc:
        text.append(
            f"Fucosylation {fuc['entry']}: enzyme {q(fuc.get('enzyme_concentration'))} · "
            "GDP-fucose "
            f"{q(fuc.get('gdp_fucose_concentration'))} · {q(fuc.get('cell_concentration'))} in "
            f"{q(fuc.get('volume'))} · {q(fuc.get('temperature'))} · {iso_short(fuc['start'])} to "
            f"{iso_short(fuc['end'])} ({q(fuc['duration'])})\n"
        )
    fill = view.get("fill")
    if fill:
        within = "✓ within tolerance" if fill["within_tolerance"] else "✗ OUTSIDE tolerance"
        text.append(
            f"Fill {fill['entry']}: {q(fill['volume'])} · {q(fill['viable_cells'])} · "
            f"{q(fill['concentration'])} · {q(fill['dose_per_kg'])} "
            f"({fill['deviation_from_target_percent']:+.1f} % of target, {within})\n"
        )
    bag = view.get("bag")
    if bag:
        text.append(
            f"Bag {bag['number']}: DIN {din_text(bag['din'])} · product {bag['product_code']} · "
            "expires "
            f"{iso_short(bag['expires_at'])} UTC\n"
        )
    elif not thaw:
        text.append("Nothing recorded yet: thaw is next.\n")
    return text


def bank_text(view: dict[str, Any]) -> Text:
    """The frozen bank of an expansion batch and its vial stock."""
    bank = view.get("bank")
    if not bank:
        return Text("Bank not frozen yet.\n")
    return Text(
        f"Bank {bank['entry']} at P{bank['passage']}: {bank['vials_frozen']} vials × "
        f"{q(bank['cells_per_vial'])} in {q(bank['volume_per_vial'])} · {bank['location']} · "
        f"{view['vials_left']} vials in stock\n"
    )


def entry_summaries(view: dict[str, Any]) -> dict[str, str]:
    """What each step entry and QC result of a batch holds, one line each (for the verifier)."""
    out: dict[str, str] = {}
    for step in view.get("steps", []):
        parts = []
        for name, value in step["values"].items():
            if isinstance(value, dict):
                parts.append(f"{name.replace('_', ' ')} {value['display']}")
            elif isinstance(value, list):
                parts.append(f"{name.replace('_', ' ')} {', '.join(map(str, value))}")
            elif value not in (None, ""):
                parts.append(f"{name.replace('_', ' ')} {value}")
        parts += [f"lot {m['lot']} ({m['kind']})" for m in step.get("materials", [])]
        out[step["id"]] = " · ".join(parts)
    for item in view.get("qc", []):
        verdict = "PASS" if item["passed"] else "FAIL"
        out[item["id"]] = f"{qc_value(item)} (specification {item['specification']}) {verdict}"
    return out
