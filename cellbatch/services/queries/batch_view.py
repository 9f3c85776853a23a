"""The complete read model of one batch: every recorded and computed value, with units.

This is what ``batch show --json`` prints (its ``to_dict()``) and what documents and screens
are built from (its attributes, :mod:`cellbatch.services.queries.batch_view_model`).
Computed values are derived here from the stored inputs, so a correction flows through.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from cellbatch import units
from cellbatch.db.database import Database
from cellbatch.db.tables import (
    Bag,
    Batch,
    Correction,
    Donor,
    MaterialLot,
    MaterialUse,
    QcResult,
    ReleaseDecision,
    SopVersion,
    StepEntry,
    TissueLot,
    User,
    Vial,
)
from cellbatch.domain import dosing, growth, late_results
from cellbatch.domain.sequence import allowed_next
from cellbatch.domain.steps import kind_of
from cellbatch.domain.timeparse import iso_utc
from cellbatch.services.batch_access import find_batch
from cellbatch.services.queries.batch_view_model import (
    BagView,
    BankView,
    BatchView,
    ChildBatch,
    CorrectionView,
    DonorRef,
    DosePart,
    ExpansionPart,
    FillView,
    FucosylationView,
    Harvest,
    Limits,
    MaterialRef,
    Passage,
    QcView,
    ReleaseDecisionView,
    SopRef,
    StepView,
    TargetWindow,
    ThawView,
    TissueLotRef,
    VialView,
)
from cellbatch.services.queries.plain import Person, Quantity
from cellbatch.services.queries.review import qa_sections
from cellbatch.services.queries.shown_values import shown_correction
from cellbatch.services.queries.signatures import batch_rows, remember_signatures
from cellbatch.services.queries.sops import sop_of
from cellbatch.services.queries.step_context import step_context


def quantity(value: float | None, measure: str) -> Quantity | None:
    """A value with its canonical unit and as technicians read it."""
    if value is None:
        return None
    m = units.MEASURES[measure]
    return Quantity(value, m.canonical, units.fmt(value, measure))


def _user_names(session, ids: set[int]) -> dict[int, Person]:
    if not ids:
        return {}
    rows = session.execute(select(User).where(User.id.in_(ids))).scalars()
    return {u.id: Person(u.username, u.full_name) for u in rows}


def _values(entry: StepEntry) -> dict[str, Any]:
    """The stored values of an entry, each quantity with its unit (as its step kind says)."""
    kind = kind_of(entry.kind)
    out: dict[str, Any] = {}
    for name, value in entry.values.items():
        if name in ("start", "end"):
            out[name] = iso_utc(datetime.fromisoformat(value))
            continue
        f = kind.field(name)
        measure = f.measure if f is not None and f.form == "quantity" else None
        if measure and value is not None:
            out[name] = quantity(value, measure)
        elif isinstance(value, list):
            out[name] = tuple(value)
        else:
            out[name] = value
    return out


def batch_view(db: Database, code: str) -> BatchView:
    """Everything recorded about a batch, computed values included."""
    with db.session() as session:
        remember_signatures(session)
        return batch_view_of(session, find_batch(session, code))


def batch_view_of(session: Session, batch: Batch) -> BatchView:
    """The batch view of ``batch``, read in ``session`` (a screen's one request)."""
    sop = sop_of(session, batch)
    sop_row = session.get(SopVersion, batch.sop_version_id)
    rows = batch_rows(session, batch)
    entries = rows.of(StepEntry)
    qc = rows.of(QcResult)
    corrections = rows.of(Correction)
    decisions = list(
        session.execute(
            select(ReleaseDecision)
            .where(ReleaseDecision.batch_id == batch.id)
            .order_by(ReleaseDecision.id)
        ).scalars()
    )
    released = late_results.released_at([(d.decision, d.decided_at) for d in decisions])
    people = _user_names(
        session,
        {batch.recorded_by}
        | {e.recorded_by for e in entries}
        | {q.recorded_by for q in qc}
        | {c.corrected_by for c in corrections}
        | {d.decided_by for d in decisions},
    )
    uses: dict[int, list[MaterialRef]] = {}
    if entries:
        for use, lot in session.execute(
            select(MaterialUse, MaterialLot)
            .join(MaterialLot, MaterialLot.id == MaterialUse.material_lot_id)
            .where(MaterialUse.step_entry_id.in_([e.id for e in entries]))
            .order_by(MaterialUse.id)
        ):
            uses.setdefault(use.step_entry_id, []).append(
                MaterialRef(lot.kind, lot.lot_number, lot.name, lot.expires_on.isoformat())
            )

    bank = batch if batch.kind == "expansion" else session.get(Batch, batch.parent_batch_id)
    lot = session.get(TissueLot, bank.tissue_lot_id)
    donor = session.get(Donor, lot.donor_id)
    corrected = {(c.entity, c.entity_id, c.field) for c in corrections}
    qa = qa_sections(session, batch)

    def step_view(e: StepEntry) -> StepView:
        ref = f"E{e.id}"
        state = qa.entries[ref]
        return StepView(
            id=ref,
            kind=e.kind,
            passage=e.passage,
            values=_values(e),
            materials=tuple(uses.get(e.id, [])),
            performed_at=iso_utc(e.performed_at),
            recorded_at=iso_utc(e.recorded_at),
            recorded_by=people[e.recorded_by],
            corrected_fields=tuple(
                sorted(f for (ent, i, f) in corrected if ent == "step_entry" and i == e.id)
            ),
            needs_verification=state.needs_verification,
            verification_status=state.verification_status,
            verifications=state.verifications,
            signatures=state.signatures,
        )

    def qc_view(q: QcResult) -> QcView:
        ref = f"Q{q.id}"
        state = qa.entries[ref]
        return QcView(
            id=ref,
            qc_id=q.qc_id,
            test=q.test,
            name=q.name,
            method=q.method,
            stage=q.stage,
            value=(
                q.value_text
                if q.value_text is not None
                else Quantity(q.value_num, q.unit, _qc_display(sop, q))
            ),
            specification=q.spec,
            passed=q.passed,
            out_of_spec=not q.passed,
            retest_of=f"Q{q.retest_of_id}" if q.retest_of_id else None,
            performed_at=iso_utc(q.performed_at),
            recorded_at=iso_utc(q.recorded_at),
            recorded_by=people[q.recorded_by],
            corrected=any(ent == "qc_result" and i == q.id for (ent, i, _f) in corrected),
            after_release=late_results.after_release(q.recorded_at, released),
            needs_verification=state.needs_verification,
            verification_status=state.verification_status,
            verifications=state.verifications,
            signatures=state.signatures,
        )

    kinds = {e.id: e.kind for e in entries}
    tests = {q.id: q.qc_id for q in qc}

    def shown(c: Correction, text: str) -> str:
        kind, test = kinds.get(c.entity_id), tests.get(c.entity_id)
        return shown_correction(sop, c.entity, kind, test, c.field, text)

    locked = batch.status in ("released", "rejected")
    return BatchView(
        code=batch.code,
        kind=batch.kind,
        status=batch.status,
        product=sop.product_name,
        sop=SopRef(sop_row.sop_id, sop_row.version, sop_row.content_hash, sop_row.title),
        started_at=iso_utc(batch.started_at),
        recorded_by=people[batch.recorded_by],
        donor=DonorRef(donor.code, donor.relationship, donor.eligibility),
        tissue_lot=TissueLotRef(
            lot=lot.lot_number,
            tissue=lot.tissue,
            amount=f"{lot.amount:g} {lot.amount_unit}",
            collected_at=iso_utc(lot.collected_at),
            received_at=iso_utc(lot.received_at),
        ),
        din=lot.din,
        steps=tuple(step_view(e) for e in entries),
        next_steps=() if locked else tuple(next_steps(batch, sop, entries)),
        expansion=_expansion(session, batch, sop, entries) if batch.kind == "expansion" else None,
        dose=_dose(session, batch, sop, entries) if batch.kind != "expansion" else None,
        qc=tuple(qc_view(q) for q in qc),
        corrections=tuple(
            CorrectionView(
                id=c.id,
                entry=("E" if c.entity == "step_entry" else "Q") + str(c.entity_id),
                field=c.field,
                old_value=c.old_value,
                new_value=c.new_value,
                old_display=shown(c, c.old_value),
                new_display=shown(c, c.new_value),
                reason=c.reason,
                corrected_at=iso_utc(c.corrected_at),
                corrected_by=people[c.corrected_by],
            )
            for c in corrections
        ),
        release_decisions=tuple(
            ReleaseDecisionView(d.decision, d.reason, iso_utc(d.decided_at), people[d.decided_by])
            for d in decisions
        ),
        signatures=qa.signatures,
        deviations=qa.deviations,
    )


def next_steps(batch: Batch, sop, entries: list[StepEntry]) -> list[str]:
    """Steps the SOP's order allows next that their kind allows now (passage limits)."""
    kinds = [s.kind for s in sop.steps]
    options = allowed_next(kinds, [s.repeats for s in sop.steps], [e.kind for e in entries])
    at = entries[-1].performed_at if entries else batch.started_at
    return [
        kind
        for kind in options
        if kind_of(kind).next_allowed(step_context(batch, sop, kind, at=at, before=entries))
    ]


def _qc_display(sop, q: QcResult) -> str:
    test = sop.qc_test(q.qc_id)
    if test.measure is None or q.value_num is None:
        return str(q.value_num)
    return units.fmt(q.value_num, test.measure)


def _expansion(session, batch: Batch, sop, entries: list[StepEntry]) -> ExpansionPart:
    passages: list[Passage] = []
    cumulative = 0.0
    seeded_at = None
    seeded = 0.0
    rules = sop.expansion
    for e in entries:
        if e.kind == "seed":
            area = (
                rules.vessel_area_cm2(e.values["vessel"]) * e.values["vessels"]
                if e.values["vessel"] in rules.vessels
                else None
            )
            seeded = e.values["viable_cells"]
            seeded_at = e.performed_at
            passages.append(
                Passage(
                    passage=e.passage,
                    seed_entry=f"E{e.id}",
                    vessel=e.values["vessel"],
                    vessels=e.values["vessels"],
                    area=Quantity(area, "cm**2", f"{area:g} cm²") if area else None,
                    viable_cells_seeded=quantity(seeded, "cells"),
                    seeding_density=quantity(growth.seeding_density(seeded, area), "cells_per_cm2")
                    if area
                    else None,
                    seeded_at=iso_utc(e.performed_at),
                )
            )
        elif e.kind == "harvest" and passages:
            harvested = growth.viable_cells(e.values["total_cells"], e.values["viability"])
            pd = growth.population_doublings(seeded, harvested)
            cumulative += pd
            hours = (e.performed_at - seeded_at).total_seconds() / 3600.0
            harvest = Harvest(
                harvest_entry=f"E{e.id}",
                total_cells_harvested=quantity(e.values["total_cells"], "cells"),
                viability=quantity(e.values["viability"], "percent"),
                confluence=quantity(e.values.get("confluence"), "percent"),
                viable_cells_harvested=quantity(harvested, "cells"),
                population_doublings=pd,
                cumulative_population_doublings=cumulative,
                culture_hours=hours,
                doubling_time_hours=growth.doubling_time_hours(hours, seeded, harvested),
                harvested_at=iso_utc(e.performed_at),
                flags=tuple(e.values.get("flags", [])),
            )
            passages[-1] = replace(passages[-1], harvest=harvest)
    vials = list(
        session.execute(
            select(Vial).where(Vial.batch_id == batch.id).order_by(Vial.number)
        ).scalars()
    )
    thawed_by: dict[int, str] = {}
    thaw_ids = {v.thaw_entry_id for v in vials if v.thaw_entry_id}
    if thaw_ids:
        for entry_id, code in session.execute(
            select(StepEntry.id, Batch.code)
            .join(Batch, Batch.id == StepEntry.batch_id)
            .where(StepEntry.id.in_(thaw_ids))
        ):
            thawed_by[entry_id] = code
    children = session.execute(
        select(Batch.code, Batch.status).where(Batch.parent_batch_id == batch.id).order_by(Batch.id)
    ).all()
    freeze = next((e for e in entries if e.kind == "freeze"), None)
    bank = None
    if freeze is not None:
        bank = BankView(
            entry=f"E{freeze.id}",
            passage=freeze.passage,
            vials_frozen=freeze.values["vials"],
            cells_per_vial=quantity(freeze.values["cells_per_vial"], "cells"),
            volume_per_vial=quantity(freeze.values["volume_per_vial"], "volume"),
            total_cells_frozen=quantity(
                freeze.values["cells_per_vial"] * freeze.values["vials"], "cells"
            ),
            location=freeze.values["location"],
            frozen_at=iso_utc(freeze.performed_at),
        )
    return ExpansionPart(
        passages=tuple(passages),
        cumulative_population_doublings=cumulative,
        limits=Limits(rules.max_passage, rules.min_bank_passage, rules.max_cumulative_pd),
        bank=bank,
        vials=tuple(
            VialView(
                number=v.number,
                location=v.location,
                viable_cells=quantity(v.viable_cells, "cells"),
                volume=quantity(v.volume_ml, "volume"),
                status="thawed" if v.thaw_entry_id else "in stock",
                thawed_for=thawed_by.get(v.thaw_entry_id),
            )
            for v in vials
        ),
        vials_left=sum(1 for v in vials if v.thaw_entry_id is None),
        children=tuple(ChildBatch(c, s) for c, s in children),
    )


def _dose(session, batch: Batch, sop, entries: list[StepEntry]) -> DosePart:
    rules = sop.dose
    target = dosing.dose_target(batch.dose_per_kg, batch.body_weight_kg, rules.tolerance_percent)
    parent = session.get(Batch, batch.parent_batch_id)
    thaw = fucosylation = fill = None
    for e in entries:
        if e.kind == "thaw":
            thaw = ThawView(
                entry=f"E{e.id}",
                vials=e.values["vials"],
                vial_numbers=e.values["vial_numbers"],
                total_cells=quantity(e.values["total_cells"], "cells"),
                viability=quantity(e.values["viability"], "percent"),
                viable_cells=quantity(
                    growth.viable_cells(e.values["total_cells"], e.values["viability"]), "cells"
                ),
                thawed_at=iso_utc(e.performed_at),
                flags=tuple(e.values.get("flags", [])),
            )
        elif e.kind == "fucosylation":
            start = datetime.fromisoformat(e.values["start"])
            end = datetime.fromisoformat(e.values["end"])
            fucosylation = FucosylationView(
                entry=f"E{e.id}",
                values={k: v for k, v in _values(e).items() if k not in ("start", "end")},
                start=iso_utc(start),
                end=iso_utc(end),
                duration=quantity((end - start).total_seconds() / 60.0, "duration"),
            )
        elif e.kind == "fill":
            cells, vol = e.values["viable_cells"], e.values["volume"]
            fill = FillView(
                entry=f"E{e.id}",
                volume=quantity(vol, "volume"),
                viable_cells=quantity(cells, "cells"),
                concentration=quantity(dosing.concentration(cells, vol), "cells_per_ml"),
                dose_per_kg=quantity(
                    dosing.dose_per_kg(cells, batch.body_weight_kg), "cells_per_kg"
                ),
                deviation_from_target_percent=target.deviation_percent(cells),
                within_tolerance=target.contains(cells),
                filled_at=iso_utc(e.performed_at),
            )
    bag = session.execute(select(Bag).where(Bag.batch_id == batch.id)).scalars().first()
    bag_view = None
    if bag is not None:
        bag_view = BagView(bag.number, bag.din, bag.product_code, iso_utc(bag.expires_at))
    return DosePart(
        parent=parent.code,
        recipient=batch.recipient_id,
        body_weight=quantity(batch.body_weight_kg, "mass_body"),
        dose_per_kg=quantity(batch.dose_per_kg, "cells_per_kg"),
        infusion_number=batch.infusion_number,
        infusion_day=batch.infusion_day,
        target_viable_cells=quantity(target.target_cells, "cells"),
        tolerance_percent=rules.tolerance_percent,
        target_window=TargetWindow(
            quantity(target.low_cells, "cells"), quantity(target.high_cells, "cells")
        ),
        thaw=thaw,
        fucosylation=fucosylation,
        fill=fill,
        bag=bag_view,
        expiry=bag_view.expires_at if bag_view else None,
    )
