"""Starting batches: a bank from a tissue lot, a dose from a released bank."""

from __future__ import annotations

import math
from datetime import datetime

from sqlalchemy import func, select

from cellbatch import units
from cellbatch.db.database import Database
from cellbatch.db.tables import Batch, DoseAttempt, StepEntry, TissueLot
from cellbatch.domain.errors import InvalidInput, NotFound, RuleViolation
from cellbatch.domain.recipients import body_weight
from cellbatch.domain.steps.base import minute
from cellbatch.domain.text import CODE
from cellbatch.domain.users import Actor
from cellbatch.services.batch_access import (
    check_work_time,
    find_batch,
    not_before,
    require_recorder,
)
from cellbatch.services.commands.sops import pin_sop
from cellbatch.services.queries.holds import refuse_if_held
from cellbatch.services.queries.plans import as_planned
from cellbatch.services.queries.recipients import (
    directed_donor_only,
    find_recipient,
    latest_weight,
)
from cellbatch.services.queries.sops import sop_of
from cellbatch.services.queries.step_context import bank_release
from cellbatch.services.uniqueness import batch_code_free, dose_attempt, dose_slot_free
from cellbatch.services.unit_of_work import UnitOfWork


def batch_code(text: str, field: str = "BATCH") -> str:
    """A batch or recipient code: 2–40 capital letters, digits or '-' (the code rule)."""
    return CODE.check(text, field)


def _new_code(uow: UnitOfWork, code: str) -> str:
    code = batch_code(code)
    batch_code_free(uow.session, code)
    return code


def start_expansion(
    db: Database,
    actor: Actor,
    code: str,
    *,
    lot_number: str,
    sop_id: str,
    sop_version: str | None = None,
    at: datetime | None = None,
) -> str:
    """Start an expansion batch (a bank) from a tissue lot under an approved SOP version."""
    require_recorder(actor, "start batches")
    with UnitOfWork(db, actor) as uow:
        code = _new_code(uow, code)
        lot = uow.session.execute(
            select(TissueLot).where(TissueLot.lot_number == lot_number.strip().upper())
        ).scalar_one_or_none()
        if lot is None:
            raise NotFound(f"--lot: no tissue lot {lot_number.strip()!r}")
        row, sop = pin_sop(uow, sop_id, sop_version, "expansion")
        if lot.tissue not in sop.tissues:
            raise RuleViolation(
                f"{sop.label} expands {', '.join(sop.tissues)} tissue; "
                f"lot {lot.lot_number} is {lot.tissue}"
            )
        started = not_before(
            check_work_time(at or uow.now, uow.now),
            lot.received_at,
            f"tissue lot {lot.lot_number} was received",
        )
        batch = uow.add(
            Batch(
                code=code,
                kind="expansion",
                sop_version_id=row.id,
                tissue_lot_id=lot.id,
                started_at=started,
                recorded_at=uow.now,
                recorded_by=actor.id,
            )
        )
        uow.commit()
        return batch.code


def start_dose(
    db: Database,
    actor: Actor,
    code: str,
    *,
    parent: str,
    sop_id: str,
    recipient: str,
    weight: str | None = None,
    dose: str | None = None,
    infusion: int | None = None,
    sop_version: str | None = None,
    at: datetime | None = None,
) -> str:
    """Start a dose batch for one recipient and infusion, from a released bank.

    The recipient must be registered (``cellbatch recipient register``); the dose is made for
    the recipient's body weight on record (``weight``, when given, must be that one). A bank
    from a related donor who is not eligible (a directed donation) makes doses only for the
    recipient linked to that donor. The recipient's treatment plan gives the SOP, the dose per
    kg (the cohort's) and the infusion (the next one without a dose batch): ``dose`` and
    ``infusion``, when given, must agree with it. The infusion number gives the day from the
    SOP's infusion schedule.
    """
    require_recorder(actor, "start batches")
    typed_kg = None
    if weight is not None:
        typed_kg = body_weight(units.parse(weight, "mass_body", field="--weight"))
    typed_dose = None if dose is None else units.parse(dose, "cells_per_kg", field="--dose")
    with UnitOfWork(db, actor) as uow:
        code = _new_code(uow, code)
        patient = find_recipient(uow.session, recipient, "--recipient", lock=True)
        recipient = patient.code
        weighed = latest_weight(uow.session, patient)
        if weighed is None:
            raise RuleViolation(f"--recipient: {recipient} has no body weight on record")
        weight_kg = weighed.weight_kg
        if typed_kg is not None and not math.isclose(typed_kg, weight_kg, rel_tol=1e-9):
            raise InvalidInput(
                "--weight",
                f"{units.fmt(typed_kg, 'mass_body')} is not {recipient}'s body weight on "
                f"record ({units.fmt(weight_kg, 'mass_body')}, weighed "
                f"{weighed.measured_on}); the clinic records a new weight first "
                "(cellbatch recipient weight)",
            )
        bank = find_batch(uow.session, parent)
        if bank.kind != "expansion":
            raise RuleViolation(f"--parent: {bank.code} is a dose batch, not a bank")
        if bank.status != "released":
            raise RuleViolation(
                f"--parent: bank {bank.code} is {bank.status}, not released: a "
                "dose batch can only be made from a released bank"
            )
        refuse_if_held(uow.session, bank, "used for a dose")
        directed_donor_only(uow.session, bank, patient)
        row, sop = pin_sop(uow, sop_id, sop_version, "dose")
        bank_sop = sop_of(uow.session, bank)
        if bank_sop.id not in sop.parent_sops:
            raise RuleViolation(
                f"{sop.label} makes doses from banks of "
                f"{', '.join(sop.parent_sops)}; {bank.code} was made under "
                f"{bank_sop.label}"
            )
        rules = sop.dose
        if typed_dose is not None and rules.matching_cohort_dose(typed_dose) is None:
            cohorts = ", ".join(d.display() for d in rules.cohort_doses)
            raise InvalidInput(
                "--dose",
                f"{units.fmt(typed_dose, 'cells_per_kg')} is not a "
                f"cohort dose of {sop.label} ({cohorts})",
            )
        if infusion is not None and not 1 <= infusion <= len(rules.infusion_days):
            raise InvalidInput(
                "--infusion",
                f"expected 1 to {len(rules.infusion_days)} "
                f"({sop.label} schedules days "
                f"{', '.join(map(str, rules.infusion_days))})",
            )
        dose_per_kg, infusion = as_planned(uow.session, patient, sop, typed_dose, infusion)
        dose_slot_free(uow.session, recipient, infusion)
        attempt = dose_attempt(uow.session, recipient, infusion)
        # the vials must exist: a dose starts after its bank was frozen, and was released (to
        # the minute, as a thaw: the decision carries seconds, a typed time does not)
        frozen_at = uow.session.execute(
            select(func.max(StepEntry.performed_at)).where(
                StepEntry.batch_id == bank.id, StepEntry.kind == "freeze"
            )
        ).scalar_one()
        started = check_work_time(at or uow.now, uow.now)
        if frozen_at is not None:
            started = not_before(started, frozen_at, f"bank {bank.code} was frozen")
        released = bank_release(uow.session, bank)
        if released is not None:
            started = not_before(started, minute(released.at), f"bank {bank.code} was released")
        batch = uow.add(
            Batch(
                code=code,
                kind="dose",
                sop_version_id=row.id,
                parent_batch_id=bank.id,
                recipient_id=recipient,
                body_weight_kg=weight_kg,
                dose_per_kg=dose_per_kg,
                infusion_number=infusion,
                infusion_day=rules.infusion_days[infusion - 1],
                started_at=started,
                recorded_at=uow.now,
                recorded_by=actor.id,
            )
        )
        uow.add(
            DoseAttempt(
                batch_id=batch.id,
                recipient_id=recipient,
                infusion_number=infusion,
                attempt=attempt,
            ),
            batch_id=batch.id,
        )
        uow.commit()
        return batch.code
