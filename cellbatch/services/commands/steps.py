"""Recording the process steps the SOP defines: seed, harvest, freeze, thaw, fucosylate, fill.

Each function is one transaction: authorise, find and lock the batch, check the SOP's
order and ranges, write the entry (and vials, material uses, bag) with audit entries.
Set-points the technician controls (seeding density, concentrations, temperature,
duration, dose) are refused outside the SOP range; measured outcomes (viability,
confluence) are recorded and flagged for QA review, because a real measurement must
never be lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from cellbatch import units
from cellbatch.db.database import Database
from cellbatch.db.tables import Bag, Batch, Donor, MaterialUse, StepEntry, TissueLot, Vial
from cellbatch.domain import dosing, growth
from cellbatch.domain.errors import InvalidInput, RuleViolation
from cellbatch.domain.sequence import require_next
from cellbatch.domain.sop import Sop, Step
from cellbatch.domain.text import LOCATION, MAX_POSITION, visible
from cellbatch.domain.users import Actor
from cellbatch.isbt128 import ProductCode, biohazard_collection_type, division_code
from cellbatch.services.batch_access import (
    check_range,
    check_work_time,
    ensure_open,
    entries,
    find_batch,
    param,
    parse_value,
    require_recorder,
    usable_material,
)
from cellbatch.services.commands.qc import write_result
from cellbatch.services.queries.site_settings import site_settings_in_force
from cellbatch.services.queries.sops import sop_of
from cellbatch.services.queries.vial_label_content import vial_numbers_of
from cellbatch.services.uniqueness import positions_free
from cellbatch.services.unit_of_work import UnitOfWork


@dataclass
class _Context:
    uow: UnitOfWork
    batch: Batch
    sop: Sop
    step: Step
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
    floor = done[-1].performed_at if done else batch.started_at
    if when < floor:
        raise InvalidInput(
            "--at",
            f"{when:%Y-%m-%d %H:%M} UTC is before the batch's previous "
            f"step or start ({floor:%Y-%m-%d %H:%M} UTC)",
        )
    return _Context(uow, batch, sop, sop.step(kind), done, when)


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
    values: dict,
    uses: list[tuple[str, int]],
    passage: int | None = None,
    reason: str | None = None,
) -> StepEntry:
    entry = ctx.uow.add(
        StepEntry(
            batch_id=ctx.batch.id,
            kind=ctx.step.kind,
            passage=passage,
            values=values,
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
    return entry


def _flag(flags: list[str], step: Step, name: str, value: float) -> None:
    p = param(step, name)
    if p is not None and not p.in_range(value):
        flags.append(f"{p.label} {units.fmt(value, p.measure)} outside SOP range {p.range_text()}")


def _material_dict(materials: list[str] | None) -> dict[str, str]:
    return {f"--material {lot}": lot for lot in (materials or [])}


# ----------------------------------------------------------------------------- expansion


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
    with UnitOfWork(db, actor) as uow:
        ctx = _begin(uow, actor, code, "seed", at, "expansion")
        rules = ctx.sop.expansion
        seeds = [e for e in ctx.done if e.kind == "seed"]
        passage = 0 if not seeds else seeds[-1].passage + 1
        if passage > rules.max_passage:
            raise RuleViolation(
                f"passage P{passage} is beyond the SOP's maximum "
                f"P{rules.max_passage} ({ctx.sop.label})"
            )
        vessel = check_vessel(ctx.sop, vessel, "--vessel")
        count_param = param(ctx.step, "vessels")
        if vessels < 1 or (count_param and not count_param.in_range(vessels)):
            rng = count_param.range_text() if count_param else "at least 1"
            raise InvalidInput("--vessels", f"expected a number of vessels {rng}, got {vessels}")
        area = rules.vessel_area_cm2(vessel) * vessels
        viable = parse_value(ctx.step.param("viable_cells"), cells, "--cells")
        if viable <= 0:
            raise InvalidInput("--cells", "expected a positive number of viable cells")
        previous = next((e for e in reversed(ctx.done) if e.kind == "harvest"), None)
        if previous is not None:
            available = growth.viable_cells(
                previous.values["total_cells"], previous.values["viability"]
            )
            if viable > available * (1 + 1e-12):
                raise InvalidInput(
                    "--cells",
                    f"{units.fmt(viable, 'cells')} is more than the viable cells harvested "
                    f"at P{previous.passage} (E{previous.id}: {units.fmt(available, 'cells')})",
                )
        density = growth.seeding_density(viable, area)
        check_range(
            ctx.step.param("seeding_density"),
            density,
            "--cells",
            what="the seeding density",
        )
        uses = _materials(ctx, _material_dict(materials))
        entry = _write(
            ctx, {"vessel": vessel, "vessels": vessels, "viable_cells": viable}, uses, passage
        )
        uow.commit()
        return entry.id


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
    with UnitOfWork(db, actor) as uow:
        ctx = _begin(uow, actor, code, "harvest", at, "expansion")
        seed_entry = ctx.done[-1]
        total = parse_value(ctx.step.param("total_cells"), total_cells, "--cells")
        if total <= 0:
            raise InvalidInput("--cells", "expected a positive total cell count")
        via = units.parse(viability, "percent", field="--viability")
        flags: list[str] = []
        _flag(flags, ctx.step, "viability", via)
        values = {"total_cells": total, "viability": via}
        if confluence is not None:
            conf = units.parse(confluence, "percent", field="--confluence")
            _flag(flags, ctx.step, "confluence", conf)
            values["confluence"] = conf
        harvested = growth.viable_cells(total, via)
        if harvested <= 0:
            raise InvalidInput("--viability", "gives no viable cells")
        pd = growth.population_doublings(seed_entry.values["viable_cells"], harvested)
        cumulative = pd + _previous_pd(ctx.done[:-1])
        ceiling = ctx.sop.expansion.max_cumulative_pd
        if cumulative > ceiling:
            raise RuleViolation(
                f"cumulative population doublings would be {cumulative:.2f}, above the SOP's "
                f"ceiling of {ceiling:g} ({ctx.sop.label}): the culture cannot continue"
            )
        if flags:
            values["flags"] = flags
        uses = _materials(ctx, _material_dict(materials))
        entry = _write(ctx, values, uses, seed_entry.passage)
        uow.commit()
        return entry.id


def check_vessel(sop: Sop, text: str, field: str) -> str:
    """A culture vessel the SOP allows (``t175`` is ``T175``); used by a seed and its correction."""
    vessel = text.strip().upper()
    if vessel not in sop.expansion.vessels:
        raise InvalidInput(
            field,
            f"expected one of {', '.join(sop.expansion.vessels)} "
            f"(allowed by {sop.label}), got {visible(vessel[:40])!r}",
        )
    return vessel


def _previous_pd(done: list[StepEntry]) -> float:
    total = 0.0
    seeded = None
    for e in done:
        if e.kind == "seed":
            seeded = e.values["viable_cells"]
        elif e.kind == "harvest" and seeded:
            v = growth.viable_cells(e.values["total_cells"], e.values["viability"])
            total += growth.population_doublings(seeded, v)
    return total


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
        last = ctx.done[-1]
        rules = ctx.sop.expansion
        if last.passage < rules.min_bank_passage:
            raise RuleViolation(
                f"the bank cannot be frozen at P{last.passage}: "
                f"{ctx.sop.label} banks from P{rules.min_bank_passage}"
            )
        vial_param = ctx.step.param("vials")
        if vials < 1 or not vial_param.in_range(vials):
            raise InvalidInput(
                "--vials", f"expected {vial_param.range_text() or 'at least 1'} vials, got {vials}"
            )
        per_vial = parse_value(ctx.step.param("cells_per_vial"), cells_per_vial, "--cells-per-vial")
        volume = parse_value(
            ctx.step.param("volume_per_vial"), volume_per_vial, "--volume-per-vial"
        )
        harvested = growth.viable_cells(last.values["total_cells"], last.values["viability"])
        frozen = per_vial * vials
        if frozen > harvested * (1 + 1e-12):
            raise InvalidInput(
                "--vials",
                f"{vials} vials × {units.fmt(per_vial, 'cells')} = "
                f"{units.fmt(frozen, 'cells')} is more than the viable cells harvested "
                f"({units.fmt(harvested, 'cells')})",
            )
        location = LOCATION.check(location, "--location")
        last_position = first_position + vials - 1
        if first_position < 1 or last_position > MAX_POSITION:
            raise InvalidInput(
                "--first-position",
                f"expected a position from 1 to {MAX_POSITION - vials + 1} for {vials} vials "
                f"(positions 1 to {MAX_POSITION}), got {first_position}",
            )
        wanted = [f"{location} / position {first_position + n}" for n in range(vials)]
        positions_free(uow.session, wanted)
        uses = _materials(ctx, {"--cryoprotectant": cryoprotectant})
        entry = _write(
            ctx,
            {
                "vials": vials,
                "cells_per_vial": per_vial,
                "volume_per_vial": volume,
                "location": location,
            },
            uses,
            last.passage,
        )
        for n in range(1, vials + 1):
            uow.add(
                Vial(
                    batch_id=ctx.batch.id,
                    number=n,
                    location=wanted[n - 1],
                    viable_cells=per_vial,
                    volume_ml=volume,
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
        if vial_numbers:
            bank = uow.session.get(Batch, ctx.batch.parent_batch_id)
            vial_numbers = vial_numbers_of(uow.session, bank, vial_numbers)
        limit = ctx.sop.dose.max_vials_per_thaw
        if not 1 <= vials <= limit:
            raise InvalidInput(
                "--vials", f"expected 1 to {limit} vials ({ctx.sop.label}), got {vials}"
            )
        stock = list(
            uow.session.execute(
                select(Vial)
                .where(Vial.batch_id == ctx.batch.parent_batch_id, Vial.thaw_entry_id.is_(None))
                .order_by(Vial.number)
                .with_for_update()
            ).scalars()
        )
        if vials > len(stock):
            raise RuleViolation(
                f"--vials: {vials} vials asked for, but only {len(stock)} remain in the bank"
            )
        if vial_numbers:
            if len(vial_numbers) != vials or len(set(vial_numbers)) != vials:
                raise InvalidInput("--vial", f"expected {vials} different vial numbers")
            by_number = {v.number: v for v in stock}
            gone = [n for n in vial_numbers if n not in by_number]
            if gone:
                raise RuleViolation(
                    f"--vial: vial {', '.join(map(str, gone))} is not in stock "
                    "(already thawed or never frozen)"
                )
            taken = [by_number[n] for n in vial_numbers]
        else:
            taken = stock[:vials]
        total = parse_value(ctx.step.param("total_cells"), total_cells, "--cells")
        via = units.parse(viability, "percent", field="--viability")
        flags: list[str] = []
        _flag(flags, ctx.step, "viability", via)
        uses = _materials(ctx, _material_dict(materials))
        values = {
            "vials": vials,
            "vial_numbers": [v.number for v in taken],
            "total_cells": total,
            "viability": via,
        }
        if flags:
            values["flags"] = flags
        entry = _write(ctx, values, uses)
        for vial in taken:
            uow.change(
                vial,
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
        if start < ctx.done[-1].performed_at:
            raise InvalidInput("--start", "is before the thaw was recorded as done")
        if end <= start:
            raise InvalidInput("--end", "expected a time after --start")
        step = ctx.step
        values = {
            "enzyme_concentration": parse_value(
                step.param("enzyme_concentration"), enzyme, "--enzyme"
            ),
            "gdp_fucose_concentration": parse_value(
                step.param("gdp_fucose_concentration"), gdp_fucose, "--gdp-fucose"
            ),
            "cell_concentration": parse_value(step.param("cell_concentration"), cells, "--cells"),
            "volume": parse_value(step.param("volume"), volume, "--volume"),
            "temperature": parse_value(step.param("temperature"), temperature, "--temperature"),
            "start": start.isoformat(),
            "end": end.isoformat(),
        }
        minutes = (end - start).total_seconds() / 60.0
        check_range(step.param("duration"), minutes, "--end", what="the incubation time")
        lots = {
            "--enzyme-lot": enzyme_lot,
            "--gdp-fucose-lot": gdp_fucose_lot,
            **_material_dict(materials),
        }
        # reagents must be in date when the reaction starts, not only when it is recorded
        ctx.at = start
        uses = _materials(ctx, lots)
        ctx.at = end
        entry = _write(ctx, values, uses)
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
        batch, sop, rules = ctx.batch, ctx.sop, ctx.sop.dose
        vol = parse_value(ctx.step.param("volume"), volume, "--volume")
        viable = parse_value(ctx.step.param("viable_cells"), cells, "--cells")
        target = check_fill(batch, sop, vol, viable)
        thaw_entry = next(e for e in ctx.done if e.kind == "thaw")
        fuc_entry = next((e for e in ctx.done if e.kind == "fucosylation"), None)
        windows = sop.windows
        if windows.thaw_to_fill_max and ctx.at - thaw_entry.performed_at > (
            windows.thaw_to_fill_max.as_timedelta()
        ):
            raise RuleViolation(
                f"the fill is too late: more than "
                f"{windows.thaw_to_fill_max.display()} after the thaw"
            )
        if (
            fuc_entry
            and windows.fucosylation_end_to_fill_max
            and (
                ctx.at - fuc_entry.performed_at
                > windows.fucosylation_end_to_fill_max.as_timedelta()
            )
        ):
            raise RuleViolation(
                f"the window has closed: the fill is more than "
                f"{windows.fucosylation_end_to_fill_max.display()} after the "
                "end of fucosylation"
            )
        if rules.expiry_from == "fucosylation_end":
            if fuc_entry is None:
                raise RuleViolation(
                    f"{sop.label} dates expiry from fucosylation, which is not recorded"
                )
            base = fuc_entry.performed_at
        else:
            base = ctx.at
        expires = base + rules.shelf_life.as_timedelta()
        if ctx.at >= expires:
            raise RuleViolation(
                f"the window has closed: the product expired at "
                f"{expires:%Y-%m-%d %H:%M} UTC, before this fill"
            )
        uses = _materials(ctx, _material_dict(materials))
        entry = _write(ctx, {"volume": vol, "viable_cells": viable}, uses)
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
                expires_at=expires,
            ),
            batch_id=batch.id,
        )
        write_dose_qc(
            uow, batch, sop, viable, target.target_cells, at=ctx.at, note="computed from the fill"
        )
        uow.commit()
        return entry.id


def check_fill(
    batch: Batch,
    sop: Sop,
    volume: float,
    viable: float,
    fields: tuple[str, str] = ("--volume", "--cells"),
) -> dosing.DoseTarget:
    """Refuse a bag whose concentration or dose is outside the SOP; return the dose target.

    Used by the fill and by a correction of the fill's volume or cells, so a corrected bag is
    held to the same rules as a new one.
    """
    volume_field, cells_field = fields
    if volume <= 0 or viable <= 0:
        raise InvalidInput(volume_field, "expected a positive volume and cell count")
    step = sop.step("fill")
    conc = dosing.concentration(viable, volume)
    check_range(step.param("concentration"), conc, volume_field, what="the concentration")
    tolerance = sop.dose.tolerance_percent
    target = dosing.dose_target(batch.dose_per_kg, batch.body_weight_kg, tolerance)
    if not target.contains(viable):
        raise InvalidInput(
            cells_field,
            f"{units.fmt(viable, 'cells')} viable cells is outside the dose tolerance: "
            f"target {units.fmt(target.target_cells, 'cells')} ± "
            f"{tolerance:g} % = {units.fmt(target.low_cells, 'cells')} to "
            f"{units.fmt(target.high_cells, 'cells')}",
        )
    return target


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
