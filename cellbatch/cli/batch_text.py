"""Plain-text rendering of a batch read model for ``batch show``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from cellbatch.services.queries.batch_view_model import BatchView, QcView, StepView
    from cellbatch.services.queries.plain import Quantity
    from cellbatch.services.queries.signatures import SignatureView


def _q(value: Quantity | None) -> str:
    return value.display if value else "—"


def _signature(sig: SignatureView) -> str:
    validity = "valid" if sig.valid else f"INVALID ({sig.reason_invalid})"
    anchor = ""
    if sig.meaning in ("released", "rejected") and sig.audit_entry:
        anchor = f" (audit anchor {sig.audit_entry})"  # as the anchor log holds it
    return (
        f"{sig.on}: {sig.meaning} by {sig.full_name} ({sig.username}) at "
        f"{sig.signed_at}: {validity}{anchor}"
    )


def _verification(step: StepView | QcView) -> str:
    status = step.verification_status
    if not step.needs_verification or status is None:
        return ""
    if status == "verified":
        who = ", ".join(sig.username for sig in step.verifications if sig.valid)
        return f"  [verified by {who}]"
    return f"  [verification {status.upper()}]"


def _value(value: object) -> str:
    display = getattr(value, "display", None)
    return display if display is not None else str(value)


def print_batch(v: BatchView) -> None:
    """Print the batch as a technician or QA officer reads it."""
    echo = typer.echo
    echo(f"{v.code}  {v.kind} batch  status: {v.status.upper()}")
    echo(f"  product: {v.product}")
    echo(f"  SOP {v.sop.id} v{v.sop.version}  hash {v.sop.content_hash[:16]}")
    echo(
        f"  donor {v.donor.code} ({v.donor.relationship}, "
        f"{v.donor.eligibility})  tissue lot {v.tissue_lot.lot}  DIN {v.din}"
    )
    if v.dose is not None:
        d = v.dose
        echo(
            f"  parent bank {d.parent}  recipient {d.recipient}  "
            f"weight {_q(d.body_weight)}  dose {_q(d.dose_per_kg)}  "
            f"infusion {d.infusion_number} (day {d.infusion_day})"
        )
        w = d.target_window
        echo(
            f"  target viable cells: {_q(d.target_viable_cells)} "
            f"(±{d.tolerance_percent:g} %: {_q(w.low)} to {_q(w.high)})"
        )
    if v.next_steps:
        echo(f"  next step: {' or '.join(v.next_steps)}")
    echo("")
    echo("Steps")
    for s in v.steps:
        values = ", ".join(f"{k}={_value(val)}" for k, val in s.values.items() if k != "flags")
        mark = f"  [corrected: {', '.join(s.corrected_fields)}]" if s.corrected_fields else ""
        mark += _verification(s)
        echo(f"  {s.id:>5} {s.kind:<12} {s.performed_at}  {s.recorded_by.shown()}{mark}")
        echo(f"        {values}")
        for m in s.materials:
            echo(f"        material {m.kind}: {m.lot} ({m.name}, exp {m.expires})")
        for flag in s.flags:
            echo(f"        ! {flag}")
    if v.expansion is not None:
        x = v.expansion
        echo("")
        echo("Passages")
        for p in x.passages:
            line = (
                f"  P{p.passage}: {p.vessels}× {p.vessel} "
                f"seeded {_q(p.viable_cells_seeded)} ({_q(p.seeding_density)})"
            )
            h = p.harvest
            if h is not None:
                dt = h.doubling_time_hours
                line += (
                    f"; harvested {_q(h.viable_cells_harvested)} viable, "
                    f"PD {h.population_doublings:.2f}, "
                    f"cumulative {h.cumulative_population_doublings:.2f}, "
                    f"doubling time {dt:.1f} h"
                    if dt
                    else ""
                )
            echo(line)
        if x.bank:
            b = x.bank
            echo(
                f"  bank: {b.vials_frozen} vials × {_q(b.cells_per_vial)} in "
                f"{_q(b.volume_per_vial)}, {x.vials_left} in stock; {b.location}"
            )
    elif v.dose is not None:
        if v.dose.fill:
            f = v.dose.fill
            echo("")
            echo(
                f"Bag: {_q(f.volume)}, viable {_q(f.viable_cells)}, "
                f"{_q(f.concentration)}, {_q(f.dose_per_kg)} "
                f"({f.deviation_from_target_percent:+.1f} % of target)"
            )
        if v.dose.bag:
            bag = v.dose.bag
            echo(f"  DIN {bag.din}  product code {bag.product_code}  expires {bag.expires_at}")
    if v.qc:
        echo("")
        echo("QC")
        for q in v.qc:
            verdict = "PASS" if q.passed else "FAIL (out of specification)"
            retest = f" retest of {q.retest_of}" if q.retest_of else ""
            echo(
                f"  {q.id:>5} {q.name} [{q.stage}]: {q.shown}  spec {q.specification}"
                f"  {verdict}{retest}"
            )
    if v.corrections:
        echo("")
        echo("Corrections (changed after first entry)")
        for c in v.corrections:
            echo(
                f"  {c.entry}.{c.field}: {c.old_display} → {c.new_display} "
                f"by {c.corrected_by.username} at {c.corrected_at}: {c.reason}"
            )
    if v.deviations:
        echo("")
        echo("Deviations")
        for d in v.deviations:
            state = d.status.upper() + (f", {d.classification}" if d.classification else "")
            echo(f"  {d.id:>5} [{state}] {d.title} (opened by {d.opened_by} {d.opened_at})")
    if v.signatures:
        echo("")
        echo("Signatures")
        for sig in v.signatures:
            echo(f"  {_signature(sig)}")
    for dec in v.release_decisions:
        echo("")
        echo(
            f"Decision: {dec.decision} by {dec.decided_by.full_name} at "
            f"{dec.decided_at}: {dec.reason}"
        )
