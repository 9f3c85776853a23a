"""Plain-text rendering of a batch read model for ``batch show``."""

from __future__ import annotations

from typing import Any

import typer


def _q(value: dict[str, Any] | None) -> str:
    return value["display"] if value else "—"


def _who(entry: dict[str, Any]) -> str:
    person = entry["recorded_by"]
    return f"{person['full_name']} ({person['username']})"


def _signature(sig: dict[str, Any]) -> str:
    validity = "valid" if sig["valid"] else f"INVALID ({sig['reason_invalid']})"
    anchor = ""
    if sig["meaning"] in ("released", "rejected") and sig.get("audit_entry"):
        anchor = f" (audit anchor {sig['audit_entry']})"  # as the anchor log holds it
    return (
        f"{sig['on']}: {sig['meaning']} by {sig['full_name']} ({sig['username']}) at "
        f"{sig['signed_at']}: {validity}{anchor}"
    )


def _verification(step: dict[str, Any]) -> str:
    status = step.get("verification_status")
    if not step.get("needs_verification") or status is None:
        return ""
    if status == "verified":
        who = ", ".join(sig["username"] for sig in step.get("verifications", []) if sig["valid"])
        return f"  [verified by {who}]"
    return f"  [verification {status.upper()}]"


def print_batch(v: dict[str, Any]) -> None:
    """Print the batch as a technician or QA officer reads it."""
    echo = typer.echo
    echo(f"{v['code']}  {v['kind']} batch  status: {v['status'].upper()}")
    echo(f"  product: {v['product']}")
    echo(f"  SOP {v['sop']['id']} v{v['sop']['version']}  hash {v['sop']['content_hash'][:16]}")
    echo(
        f"  donor {v['donor']['code']} ({v['donor']['relationship']}, "
        f"{v['donor']['eligibility']})  tissue lot {v['tissue_lot']['lot']}  DIN {v['din']}"
    )
    if v["kind"] == "dose":
        echo(
            f"  parent bank {v['parent']}  recipient {v['recipient']}  "
            f"weight {_q(v['body_weight'])}  dose {_q(v['dose_per_kg'])}  "
            f"infusion {v['infusion_number']} (day {v['infusion_day']})"
        )
        w = v["target_window"]
        echo(
            f"  target viable cells: {_q(v['target_viable_cells'])} "
            f"(±{v['tolerance_percent']:g} %: {_q(w['low'])} to {_q(w['high'])})"
        )
    if v["next_steps"]:
        echo(f"  next step: {' or '.join(v['next_steps'])}")
    echo("")
    echo("Steps")
    for s in v["steps"]:
        values = ", ".join(
            f"{k}={val['display'] if isinstance(val, dict) else val}"
            for k, val in s["values"].items()
            if k != "flags"
        )
        mark = f"  [corrected: {', '.join(s['corrected_fields'])}]" if s["corrected_fields"] else ""
        mark += _verification(s)
        echo(f"  {s['id']:>5} {s['kind']:<12} {s['performed_at']}  {_who(s)}{mark}")
        echo(f"        {values}")
        for m in s["materials"]:
            echo(f"        material {m['kind']}: {m['lot']} ({m['name']}, exp {m['expires']})")
        for flag in s["values"].get("flags", []):
            echo(f"        ! {flag}")
    if v["kind"] == "expansion":
        echo("")
        echo("Passages")
        for p in v["passages"]:
            pd = p.get("population_doublings")
            line = (
                f"  P{p['passage']}: {p['vessels']}× {p['vessel']} "
                f"seeded {_q(p['viable_cells_seeded'])} ({_q(p['seeding_density'])})"
            )
            if pd is not None:
                dt = p["doubling_time_hours"]
                line += (
                    f"; harvested {_q(p['viable_cells_harvested'])} viable, "
                    f"PD {pd:.2f}, cumulative {p['cumulative_population_doublings']:.2f}, "
                    f"doubling time {dt:.1f} h"
                    if dt
                    else ""
                )
            echo(line)
        if v["bank"]:
            b = v["bank"]
            echo(
                f"  bank: {b['vials_frozen']} vials × {_q(b['cells_per_vial'])} in "
                f"{_q(b['volume_per_vial'])}, {v['vials_left']} in stock; {b['location']}"
            )
    else:
        if v["fill"]:
            f = v["fill"]
            echo("")
            echo(
                f"Bag: {_q(f['volume'])}, viable {_q(f['viable_cells'])}, "
                f"{_q(f['concentration'])}, {_q(f['dose_per_kg'])} "
                f"({f['deviation_from_target_percent']:+.1f} % of target)"
            )
        if v["bag"]:
            echo(
                f"  DIN {v['bag']['din']}  product code {v['bag']['product_code']}  "
                f"expires {v['bag']['expires_at']}"
            )
    if v["qc"]:
        echo("")
        echo("QC")
        for q in v["qc"]:
            value = q["value"]["display"] if isinstance(q["value"], dict) else q["value"]
            verdict = "PASS" if q["passed"] else "FAIL (out of specification)"
            retest = f" retest of {q['retest_of']}" if q["retest_of"] else ""
            echo(
                f"  {q['id']:>5} {q['name']} [{q['stage']}]: {value}  spec {q['specification']}"
                f"  {verdict}{retest}"
            )
    if v["corrections"]:
        echo("")
        echo("Corrections (changed after first entry)")
        for c in v["corrections"]:
            echo(
                f"  {c['entry']}.{c['field']}: {c['old_display']} → {c['new_display']} "
                f"by {c['corrected_by']['username']} at {c['corrected_at']}: {c['reason']}"
            )
    if v.get("deviations"):
        echo("")
        echo("Deviations")
        for d in v["deviations"]:
            state = d["status"].upper() + (
                f", {d['classification']}" if d["classification"] else ""
            )
            echo(
                f"  {d['id']:>5} [{state}] {d['title']} (opened by {d['opened_by']} "
                f"{d['opened_at']})"
            )
    if v.get("signatures"):
        echo("")
        echo("Signatures")
        for sig in v["signatures"]:
            echo(f"  {_signature(sig)}")
    for d in v["release_decisions"]:
        echo("")
        echo(
            f"Decision: {d['decision']} by {d['decided_by']['full_name']} at "
            f"{d['decided_at']}: {d['reason']}"
        )
