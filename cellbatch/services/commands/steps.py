"""Recording the process steps the SOP defines: seed, harvest, freeze, thaw, fucosylate, fill.

Each function is one transaction: authorise, find and lock the batch, read the typed values,
ask the step kind (:mod:`cellbatch.domain.steps`) whether they may be recorded in the batch's
context, then write the entry (and vials, material uses, bag) with audit entries. The kind
holds every rule: set-points outside the SOP range are refused, measured outcomes are
recorded and flagged, and a parameter whose SOP says ``on_out_of_range = "deviation"`` is
recorded together with a deviation opened in the same transaction (release needs it closed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from cellbatch import units
from cellbatch.db.database import Database
from cellbatch.db.tables import Bag, Batch, Donor, MaterialUse, StepEntry, TissueLot, Vial
from cellbatch.domain.errors import InvalidInput, RuleViolation
from cellbatch.domain.sequence import require_next
from cellbatch.domain.sop import Sop, Step
from cellbatch.domain.steps import Outcome, StepContext, StepKind, kind_of
from cellbatch.domain.users import Actor
from cellbatch.isbt128 import ProductCode, biohazard_collection_type, division_code
from cellbatch.services.batch_access import (
    check_work_time,
    ensure_open,
    entries,
    find_batch,
    require_recorder,
    usable_material,
)
from cellbatch.services.commands.deviations import open_automatic
from cellbatch.services.commands.qc import write_result
from cellbatch.services.queries.site_settings import site_settings_in_force
from cellbatch.services.queries.sops import sop_of
from cellbatch.services.queries.step_context import (
    parent_release,
    step_context,
    vials_in_stock,
)
from cellbatch.services.queries.vial_label_content import vial_numbers_of
from cellbatch.services.uniqueness import positions_free
from cellbatch.services.unit_of_work import UnitOfWork


@dataclass
class _Context:
    uow: UnitOfWork
    batch: Batch
    sop: Sop
    step: Step
    kind: StepKind
    done: list[StepEntry]
    at: datetime


def _begin(
    uow: UnitOfWork, actor: Actor, code: str, kind: str, at: datetime | None, batch_kind: str
) -> _Context:
    require_recorder(actor, f"record a {kind}")
    batch = find_batch(uow.session, code, for_update=True)
    ensure_open(batch)
    if batch.kind != batch_kind:
        raise RuleViolation(
            f"{batch.code} is a {batch.kind} batch: a {kind} belongs to a {batch_kind} batch"
        )
    sop = sop_of(uow.session, batch)
    done = entries(uow.session, batch.id)
    require_next(
        [s.kind for s in sop.steps], [s.repeats for s in sop.steps], [e.kind for e in done], kind
    )
    when = check_work_time(at or uow.now, uow.now)
    return _Context(uow, batch, sop, sop.step(kind), kind_of(kind), done, when)


def parse_inputs(kind: StepKind, step: Step, texts: dict[str, str | None]) -> dict[str, Any]:
    """Typed text of the kind's quantities (by value name) as canonical values.

    Counts and other values pass through; a quantity is read in its SOP parameter's measure
    and any error names the field's command-line option.
    """
    values: dict[str, Any] = {}
    for name, text in texts.items():
        if text is None:
            continue
        f = kind.field(name)
        if f is not None and f.form == "quantity" and f.measure is not None:
            measure = step.param(name).measure if step.has_param(name) else f.measure
            values[name] = units.parse(text, measure, field=f.option)
        else:
            values[name] = text
    return values


def checked(ctx: _Context, values: dict[str, Any], *, stock: list[int] | None = None) -> Outcome:
    """Ask the kind; raise its first refusal, else return what it computed and flagged."""
    context = _rules_context(ctx, stock or [])
    outcome = ctx.kind.check(values, context)
    outcome.raise_first()
    if outcome.flags:
        outcome.values["flags"] = list(outcome.flags)
    return outcome


def _rules_context(ctx: _Context, stock: list[int]) -> StepContext:
    return step_context(
        ctx.batch, ctx.sop, ctx.kind.name, at=ctx.at, before=ctx.done, stock=stock,
        released=parent_release(ctx.uow.session, ctx.batch),
    )  # fmt: skip


def open_range_deviations(
    uow: UnitOfWork, batch: Batch, entry: StepEntry, outcome: Outcome, *, why: str
) -> None:
    """Open one deviation per value the SOP records only with a deviation (same transaction)."""
    for deviation in outcome.deviations:
        open_automatic(
            uow,
            batch,
            title=f"Out of SOP range: {deviation.text}"[:200],
            description=(
                f"E{entry.id} ({entry.kind}) {why} {deviation.text}. The SOP records this "
                "value only with a deviation; release needs it investigated and closed."
            ),
            reason=f"out-of-range value in E{entry.id}",
        )


def _materials(ctx: _Context, lots: dict[str, str]) -> list[tuple[str, int]]:
    """Check material lots (field → lot number) against the step's list; return uses."""
    uses: list[tuple[str, int]] = []
    kinds_seen: set[str] = set()
    allowed = list(ctx.step.materials) or None
    for field, lot_number in lots.items():
        lot = usable_material(ctx.uow.session, lot_number, on=ctx.at, field=field, kinds=allowed)
        uses.append((lot.kind, lot.id))
        kinds_seen.add(lot.kind)
    missing = [k for k in ctx.step.materials if k not in kinds_seen]
    if missing:
        raise InvalidInput(
            "--material",
            f"the SOP's {ctx.step.id} step uses {', '.join(missing)}: give the lot number of each",
        )
    return uses


def _write(
    ctx: _Context,
    outcome: Outcome,
    uses: list[tuple[str, int]],
    reason: str | None = None,
) -> StepEntry:
    entry = ctx.uow.add(
        StepEntry(
            batch_id=ctx.batch.id,
            kind=ctx.step.kind,
            passage=outcome.passage,
            values=outcome.values,
            performed_at=ctx.at,
            recorded_at=ctx.uow.now,
            recorded_by=ctx.uow.actor.id,
        ),  # type: ignore[union-attr]
        batch_id=ctx.batch.id,
        reason=reason,
    )
    for role, lot_id in uses:
        ctx.uow.add(
            MaterialUse(step_entry_id=entry.id, material_lot_id=lot_id, role=role),
            batch_id=ctx.batch.id,
        )
    open_range_deviations(ctx.uow, ctx.batch, entry, outcome, why="recorded")
    return entry


def _material_dict(materials: list[str] | None) -> dict[str, str]:
    return {f"--material {lot}": lot for lot in (materials or [])}


# ----------------------------------------------------------------------------- expansion


def record_step(
    db: Database,
    actor: Actor,
    code: str,
    kind: str,
    *,
    inputs: dict[str, Any],
    materials: list[str] | None = None,
    at: datetime | None = None,
) -> int:
    """Record a step of any kind whose entry is all it writes (seed, harvest, a new kind).

    ``inputs`` are the kind's values by name: quantities as typed text, counts as numbers.
    Kinds that also write vials or a bag (freeze, thaw, fill) have their own function.
    """
    step_kind = kind_of(kind)
    if step_kind.writes_more:
        raise RuleViolation(
            f"a {kind} is recorded by its own command, which writes {step_kind.writes_more} "
            "with the entry"
        )
    with UnitOfWork(db, actor) as uow:
        ctx = _begin(uow, actor, code, kind, at, step_kind.sop_kind)
        texts = {name: value for name, value in inputs.items() if isinstance(value, str)}
        values = {name: value for name, value in inputs.items() if not isinstance(value, str)}
        values |= parse_inputs(step_kind, ctx.step, texts)
        outcome = checked(ctx, values)
        uses = _materials(ctx, _material_dict(materials))
        entry = _write(ctx, outcome, uses)
        uow.commit()
        return entry.id


def seed(
    db: Database,
    actor: Actor,
    code: str,
    *,
    vessel: str,
    vessels: int,
    cells: str,
    materials: list[str] | None = None,
    at: datetime | None = None,
) -> int:
    """Seed a passage: vessels → area, viable cells → seeding density within the SOP range."""
    inputs = {"vessel": vessel, "vessels": vessels, "viable_cells": cells}
    return record_step(db, actor, code, "seed", inputs=inputs, materials=materials, at=at)


def harvest(
    db: Database,
    actor: Actor,
    code: str,
    *,
    total_cells: str,
    viability: str,
    confluence: str | None = None,
    materials: list[str] | None = None,
    at: datetime | None = None,
) -> int:
    """Harvest the passage: viable cells, PD and cumulative PD under the SOP's ceiling."""
    inputs = {"total_cells": total_cells, "viability": viability}
    if confluence is not None:
        inputs["confluence"] = confluence
    return record_step(db, actor, code, "harvest", inputs=inputs, materials=materials, at=at)


def freeze(
    db: Database,
    actor: Actor,
    code: str,
    *,
    vials: int,
    cells_per_vial: str,
    volume_per_vial: str,
    cryoprotectant: str,
    location: str,
    first_position: int = 1,
    at: datetime | None = None,
) -> int:
    """Cryopreserve the last harvest into vials, each with its storage position."""
    with UnitOfWork(db, actor) as uow:
        ctx = _begin(uow, actor, code, "freeze", at, "expansion")
        values = {"vials": vials, "location": location, "first_position": first_position}
        values |= parse_inputs(
            ctx.kind,
            ctx.step,
            {"cells_per_vial": cells_per_vial, "volume_per_vial": volume_per_vial},
        )
        outcome = checked(ctx, values)
        where = outcome.values["location"]
        wanted = [f"{where} / position {first_position + n}" for n in range(vials)]
        positions_free(uow.session, wanted)
        uses = _materials(ctx, {"--cryoprotectant": cryoprotectant})
        entry = _write(ctx, outcome, uses)
        for n in range(1, vials + 1):
            uow.add(
                Vial(
                    batch_id=ctx.batch.id,
                    number=n,
                    location=wanted[n - 1],
                    viable_cells=outcome.values["cells_per_vial"],
                    volume_ml=outcome.values["volume_per_vial"],
                    freeze_entry_id=entry.id,
                ),
                batch_id=ctx.batch.id,
            )
        uow.commit()
        return entry.id


# ----------------------------------------------------------------------------- dose


def thaw(
    db: Database,
    actor: Actor,
    code: str,
    *,
    vials: int,
    total_cells: str,
    viability: str,
    vial_numbers: list[int | str] | None = None,
    materials: list[str] | None = None,
    at: datetime | None = None,
) -> int:
    """Thaw vials of the parent bank (never more than remain, never one twice) and count.

    ``vial_numbers`` names the vials by number or by their labels read (scanned or typed);
    a label of another bank, or one superseded by a reprint, is refused.
    """
    with UnitOfWork(db, actor) as uow:
        ctx = _begin(uow, actor, code, "thaw", at, "dose")
        if vial_numbers:  # numbers, or the vials' labels as scanned or typed
            bank = uow.session.get(Batch, ctx.batch.parent_batch_id)
            vial_numbers = vial_numbers_of(uow.session, bank, vial_numbers)
        stock = vials_in_stock(uow.session, ctx.batch.parent_batch_id, for_update=True)
        values: dict[str, Any] = {"vials": vials, "vial_numbers": list(vial_numbers or [])}
        values |= parse_inputs(
            ctx.kind, ctx.step, {"total_cells": total_cells, "viability": viability}
        )
        outcome = checked(ctx, values, stock=[v.number for v in stock])
        uses = _materials(ctx, _material_dict(materials))
        entry = _write(ctx, outcome, uses)
        by_number = {v.number: v for v in stock}
        for number in outcome.values["vial_numbers"]:
            uow.change(
                by_number[number],
                "thaw_entry_id",
                entry.id,
                batch_id=ctx.batch.id,
                reason=f"thawed for dose batch {ctx.batch.code}",
            )
        uow.commit()
        return entry.id


def fucosylation(
    db: Database,
    actor: Actor,
    code: str,
    *,
    enzyme_lot: str,
    enzyme: str,
    gdp_fucose_lot: str,
    gdp_fucose: str,
    cells: str,
    volume: str,
    temperature: str,
    start: datetime,
    end: datetime,
    materials: list[str] | None = None,
) -> int:
    """Fucosylate the thawed cells: reagents, conditions and duration within the SOP."""
    with UnitOfWork(db, actor) as uow:
        ctx = _begin(uow, actor, code, "fucosylation", end, "dose")
        values: dict[str, Any] = parse_inputs(
            ctx.kind,
            ctx.step,
            {
                "enzyme_concentration": enzyme,
                "gdp_fucose_concentration": gdp_fucose,
                "cell_concentration": cells,
                "volume": volume,
                "temperature": temperature,
            },
        )
        values |= {"start": start.isoformat(), "end": end.isoformat()}
        outcome = checked(ctx, values)
        lots = {
            "--enzyme-lot": enzyme_lot,
            "--gdp-fucose-lot": gdp_fucose_lot,
            **_material_dict(materials),
        }
        # reagents must be in date when the reaction starts, not only when it is recorded
        ctx.at = start
        uses = _materials(ctx, lots)
        ctx.at = end
        entry = _write(ctx, outcome, uses)
        uow.commit()
        return entry.id


def fill(
    db: Database,
    actor: Actor,
    code: str,
    *,
    volume: str,
    cells: str,
    materials: list[str] | None = None,
    at: datetime | None = None,
) -> int:
    """Formulate and fill the bag: dose within tolerance, concentration, expiry, window."""
    with UnitOfWork(db, actor) as uow:
        ctx = _begin(uow, actor, code, "fill", at, "dose")
        batch, sop = ctx.batch, ctx.sop
        values = parse_inputs(ctx.kind, ctx.step, {"volume": volume, "viable_cells": cells})
        outcome = checked(ctx, values)
        uses = _materials(ctx, _material_dict(materials))
        entry = _write(ctx, outcome, uses)
        # the bag: the donation's DIN and a product code whose division is unique per DIN
        bank = uow.session.get(Batch, batch.parent_batch_id)
        lot = uow.session.get(TissueLot, bank.tissue_lot_id)
        donor = uow.session.get(Donor, lot.donor_id)
        product = site_settings_in_force(uow.session).settings.product(sop.product)
        collection = product.collection_type
        if donor.eligibility == "ineligible-related":
            collection = biohazard_collection_type(collection)
        prefix = product.description_code + collection
        used = uow.session.execute(
            select(func.count())
            .select_from(Bag)
            .where(Bag.din == lot.din, Bag.product_code.startswith(prefix))
        ).scalar_one()
        code8 = ProductCode(product.description_code, collection, division_code(used + 1))
        uow.add(
            Bag(
                batch_id=batch.id,
                number=1,
                fill_entry_id=entry.id,
                din=lot.din,
                product_code=code8.eye_readable,
                expires_at=outcome.expires_at,
            ),
            batch_id=batch.id,
        )
        write_dose_qc(
            uow,
            batch,
            sop,
            outcome.values["viable_cells"],
            outcome.computed["target_cells"],
            at=ctx.at,
            note="computed from the fill",
        )
        uow.commit()
        return entry.id


def write_dose_qc(
    uow: UnitOfWork,
    batch: Batch,
    sop: Sop,
    viable: float,
    target: float,
    *,
    at: datetime,
    note: str,
) -> None:
    """Write the cell-dose result (viable cells in the bag as % of target), if the SOP has it."""
    try:
        test = sop.qc_test("cell-dose")
    except Exception:  # the SOP has no cell-dose test
        return
    write_result(uow, batch, test, viable / target * 100.0, method=test.method, at=at, note=note)
