"""Making a recipient's treatment plan and moving an infusion within its window (the clinic).

The plan takes the dose SOP's infusion days and the recipient's cohort dose; day 1 and the
time of day of the infusions are the clinic's. A later infusion may be moved within the plan's
window (± days) until its dose batch is started; day 1 is fixed once planned.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from cellbatch import units
from cellbatch.db.database import Database
from cellbatch.db.tables import PlannedInfusion, TreatmentPlan
from cellbatch.domain import plans as rules
from cellbatch.domain.coi import DATA_IDENTIFIER, LITERAL, ChainOfIdentity, sequence_text
from cellbatch.domain.errors import InvalidInput, NotFound, RuleViolation
from cellbatch.domain.text import typed_text
from cellbatch.domain.timeparse import as_utc
from cellbatch.domain.users import CLINIC_ROLES, Actor
from cellbatch.services.queries.plans import dose_batches_of, infusions_of, plan_of
from cellbatch.services.queries.recipients import find_recipient
from cellbatch.services.queries.site_settings import site_settings_in_force
from cellbatch.services.queries.sops import find_usable_sop
from cellbatch.services.unit_of_work import UnitOfWork


def create_plan(
    db: Database,
    actor: Actor,
    recipient: str,
    *,
    sop_id: str,
    first_infusion: datetime,
    window_days: int = 1,
    lead: timedelta = timedelta(hours=1),
    dose: str | None = None,
) -> str:
    """Plan a recipient's infusions: day 1 is ``first_infusion``'s day, at its time of day.

    The dose per kg is the SOP's dose of the recipient's cohort; ``dose``, when given, must be
    that one. Returns the recipient ID.
    """
    actor.require(*CLINIC_ROLES, action="plan treatments")
    sop = find_usable_sop(sop_id)
    sop.ensure_approved()
    if sop.kind != "dose" or sop.dose is None:
        raise InvalidInput("--sop", f"expected a dose SOP; {sop.label} is a {sop.kind} SOP")
    window = rules.window_days(window_days)
    lead = rules.lead_time(lead)
    first = as_utc(first_infusion)
    with UnitOfWork(db, actor) as uow:
        patient = find_recipient(uow.session, recipient, lock=True)
        per_kg = rules.cohort_dose(sop, patient.cohort)
        if dose is not None:
            typed = units.parse(dose, "cells_per_kg", field="--dose")
            if abs(typed - per_kg) > 1e-9 * per_kg:
                raise InvalidInput(
                    "--dose",
                    f"{units.fmt(typed, 'cells_per_kg')} is not the dose of {patient.code}'s "
                    f"cohort {patient.cohort} in {sop.label} "
                    f"({units.fmt(per_kg, 'cells_per_kg')}): the cohort's dose is fixed",
                )
        if uow.session.execute(
            select(TreatmentPlan.id).where(TreatmentPlan.recipient_id == patient.id)
        ).first():
            raise RuleViolation(
                f"{patient.code} has a treatment plan already (cellbatch plan show)"
            )
        plan = uow.add(
            TreatmentPlan(
                recipient_id=patient.id,
                coi=_next_coi(uow).code,
                sop_id=sop.id,
                dose_per_kg=per_kg,
                day_one=first.date(),
                window_days=window,
                lead_minutes=int(lead.total_seconds() // 60),
                created_at=uow.now,
                created_by=actor.id,
            )
        )
        for number, day, _when in rules.planned_days(sop, first.date()):
            uow.add(
                PlannedInfusion(
                    plan_id=plan.id,
                    number=number,
                    day=day,
                    planned_at=first + timedelta(days=day - 1),
                )
            )
        uow.commit()
        return patient.code


def _next_coi(uow: UnitOfWork) -> ChainOfIdentity:
    """The next chain-of-identity identifier of this facility and year (under the write lock)."""
    fin = site_settings_in_force(uow.session).settings.fin
    year = uow.now.year % 100
    prefix = f"{DATA_IDENTIFIER}{LITERAL}{fin}{year:02d}"
    taken = uow.session.execute(
        select(TreatmentPlan.coi).where(TreatmentPlan.coi.like(f"{prefix}%"))
    ).scalars()
    last = max((int(c[len(prefix) :]) for c in taken if c[len(prefix) :].isdigit()), default=0)
    return ChainOfIdentity(fin=fin, year=year, sequence=sequence_text(last + 1))


def move_infusion(
    db: Database, actor: Actor, recipient: str, number: int, at: datetime, *, reason: str
) -> datetime:
    """Move a planned infusion to ``at``, within the plan's window; returns the new time."""
    actor.require(*CLINIC_ROLES, action="move planned infusions")
    reason = typed_text(reason, "--reason", what="why the infusion moves")
    at = as_utc(at)
    with UnitOfWork(db, actor) as uow:
        patient = find_recipient(uow.session, recipient, lock=True)
        plan = plan_of(uow.session, patient, "RECIPIENT")
        infusion = next((i for i in infusions_of(uow.session, plan) if i.number == number), None)
        if infusion is None:
            raise NotFound(f"--infusion: {patient.code}'s plan has no infusion {number}")
        if number in dose_batches_of(uow.session, patient.code):
            raise RuleViolation(
                f"--infusion: the dose for infusion {number} is in production; its time is fixed"
            )
        planned_day = plan.day_one + timedelta(days=infusion.day - 1)
        if not rules.within_window(at.date(), planned_day, plan.window_days, number):
            allowed = "day 1 is fixed" if number == 1 else f"± {plan.window_days} day(s)"
            raise InvalidInput(
                "--at",
                f"infusion {number} is planned for day {infusion.day} ({planned_day}); the "
                f"plan allows {allowed}, got {at.date()}",
            )
        uow.change(infusion, "planned_at", at, reason=reason, action="reschedule")
        uow.commit()
        return at
