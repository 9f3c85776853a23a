"""Reading treatment plans: each infusion's date, window, make-by times and state.

``next_infusion`` is the one answer to "which infusion is a new dose batch for", and
``next_to_give`` to "which infusion does the bedside give next": both apply the domain's rule
(``cellbatch.domain.plans.next_to_make`` and ``next_to_give``) to :func:`doses_made`. An
infusion is done when its bag's infusion record says it was given (infused or partly infused).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from cellbatch import units
from cellbatch.db.database import Database
from cellbatch.db.tables import Batch, InfusionRecord, PlannedInfusion, Recipient, TreatmentPlan
from cellbatch.domain.bedside import GIVEN
from cellbatch.domain.coi import parse_coi
from cellbatch.domain.errors import InvalidInput, NotFound, RuleViolation
from cellbatch.domain.plans import DoseMade, make_by, next_to_give, next_to_make
from cellbatch.domain.sop import Sop
from cellbatch.domain.timeparse import as_utc, iso_utc
from cellbatch.services.queries.recipients import find_recipient
from cellbatch.services.queries.sops import find_usable_sop
from cellbatch.services.uniqueness import doses_of


def plan_of(session: Session, recipient: Recipient, field: str = "--recipient") -> TreatmentPlan:
    """The recipient's treatment plan; NotFound naming ``field`` when there is none."""
    plan = session.execute(
        select(TreatmentPlan).where(TreatmentPlan.recipient_id == recipient.id)
    ).scalar_one_or_none()
    if plan is None:
        raise NotFound(
            f"{field}: {recipient.code} has no treatment plan; the clinic makes one first "
            "(cellbatch plan create)"
        )
    return plan


def infusions_of(session: Session, plan: TreatmentPlan) -> list[PlannedInfusion]:
    """The plan's infusions, by number."""
    return list(
        session.execute(
            select(PlannedInfusion)
            .where(PlannedInfusion.plan_id == plan.id)
            .order_by(PlannedInfusion.number)
        ).scalars()
    )


def dose_batches_of(session: Session, code: str) -> dict[int, Batch]:
    """The recipient's dose batches that count (not rejected), by infusion number."""
    return {
        b.infusion_number: b
        for b in session.execute(
            select(Batch).where(Batch.recipient_id == code, Batch.status != "rejected")
        ).scalars()
        if b.infusion_number is not None
    }


def doses_made(session: Session, code: str) -> list[DoseMade]:
    """Every dose batch of the recipient, rejected ones included, with its bags' fates."""
    return [dose for _, dose in doses_of(session, code)]


def next_infusion(
    session: Session, recipient: Recipient, plan: TreatmentPlan
) -> PlannedInfusion | None:
    """The infusion a new dose batch is for (``domain.plans.next_to_make``); None: none."""
    infusions = infusions_of(session, plan)
    number = next_to_make([i.number for i in infusions], doses_made(session, recipient.code))
    return next((i for i in infusions if i.number == number), None)


def next_to_give_of(session: Session, recipient: Recipient) -> int | None:
    """The infusion the bedside gives next (``domain.plans.next_to_give``); None: no plan."""
    try:
        plan = plan_of(session, recipient)
    except NotFound:
        return None
    numbers = [i.number for i in infusions_of(session, plan)]
    return next_to_give(numbers, doses_made(session, recipient.code))


def as_planned(
    session: Session,
    recipient: Recipient,
    sop: Sop,
    dose_per_kg: float | None,
    infusion: int | None,
) -> tuple[float, int]:
    """The dose per kg and infusion number of the recipient's next dose, as planned.

    A dose batch is made under the plan's SOP, at the plan's dose, for the plan's next
    infusion; a typed dose or infusion number that disagrees is refused, naming the option.
    """
    plan = plan_of(session, recipient)
    if sop.id != plan.sop_id:
        raise RuleViolation(
            f"--sop: {recipient.code}'s treatment plan is made under {plan.sop_id}, not {sop.id}"
        )
    if dose_per_kg is not None and not math.isclose(dose_per_kg, plan.dose_per_kg, rel_tol=1e-9):
        raise InvalidInput(
            "--dose",
            f"{units.fmt(dose_per_kg, 'cells_per_kg')} disagrees with {recipient.code}'s "
            f"treatment plan ({units.fmt(plan.dose_per_kg, 'cells_per_kg')}, cohort "
            f"{recipient.cohort}: fixed for the patient)",
        )
    upcoming = next_infusion(session, recipient, plan)
    if upcoming is None:
        raise RuleViolation(
            f"--infusion: every infusion of {recipient.code}'s treatment plan is given or has a "
            "dose batch that may still be given"
        )
    if infusion is not None and infusion != upcoming.number:
        raise InvalidInput(
            "--infusion",
            f"{recipient.code}'s next planned infusion is {upcoming.number} (day "
            f"{upcoming.day}, {as_utc(upcoming.planned_at):%Y-%m-%d}); got {infusion} (a dose "
            "is made again for an infusion only when its dose was not given: docs/clinic.md)",
        )
    return plan.dose_per_kg, upcoming.number


@dataclass(frozen=True)
class InfusionPlanView:
    """One planned infusion: when, within which window, made by when, and what became of it."""

    number: int
    day: int
    planned_at: str
    window: str
    thaw_from: str
    made_from: str
    fill_by: str
    batch: str | None
    batch_status: str | None
    state: str
    """``planned``, ``in production (STATUS)``, ``made and released``, ``given``, ``partly
    given`` or ``not given (FATE)``: given is done."""
    infusion_record: str | None = None
    """The infusion record of the dose's bag (``IR1``), once the bedside recorded it."""
    fate: str | None = None
    """What became of the bag: infused, partly-infused, not-infused or discarded."""
    infused_from: str | None = None
    """When the infusion started (UTC)."""
    infused_to: str | None = None
    """When it stopped (UTC)."""
    done: bool = False
    """Whether the infusion was given (infused or partly infused)."""


@dataclass(frozen=True)
class PlanView:
    """A recipient's plan as shown (pseudonymous)."""

    recipient: str
    trial: str
    cohort: int
    sop: str
    product: str
    dose_per_kg: str
    day_one: str
    window_days: int
    lead: str
    coi: str | None = None
    """The therapy's chain-of-identity identifier as bar-coded (``&/CH...``)."""
    coi_eye_readable: str | None = None
    coi_check: str | None = None
    """The check character printed in a box beside the eye-readable identifier."""
    infusions: list[InfusionPlanView] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON output."""
        return asdict(self)


def _state(batch: Batch | None, record: InfusionRecord | None) -> str:
    if batch is None:
        return "planned"
    if record is not None:
        return {"infused": "given", "partly-infused": "partly given"}.get(
            record.fate, f"not given ({record.fate})"
        )
    if batch.status == "released":
        return "made and released"
    return f"in production ({batch.status})"


def _iso(moment: datetime | None) -> str | None:
    return iso_utc(as_utc(moment)) if moment is not None else None


def _infusion_records(session: Session, batch_ids: list[int]) -> dict[int, InfusionRecord]:
    """The infusion record of each of these dose batches' bag (one bag per dose), by batch."""
    if not batch_ids:
        return {}
    rows = session.execute(
        select(InfusionRecord)
        .where(InfusionRecord.batch_id.in_(batch_ids))
        .order_by(InfusionRecord.id)
    ).scalars()
    return {r.batch_id: r for r in rows}


def _sop(plan: TreatmentPlan) -> Sop:
    return find_usable_sop(plan.sop_id)


def _view(session: Session, recipient: Recipient, plan: TreatmentPlan) -> PlanView:
    sop = _sop(plan)
    coi = parse_coi(plan.coi) if plan.coi else None
    lead = timedelta(minutes=plan.lead_minutes)
    made = dose_batches_of(session, recipient.code)
    records = _infusion_records(session, [b.id for b in made.values()])
    rows = []
    for inf in infusions_of(session, plan):
        times = make_by(sop, as_utc(inf.planned_at), lead)
        batch = made.get(inf.number)
        record = records.get(batch.id) if batch else None
        window = "day fixed" if inf.number == 1 else f"± {plan.window_days} d"
        rows.append(
            InfusionPlanView(
                number=inf.number,
                day=inf.day,
                planned_at=iso_utc(as_utc(inf.planned_at)),
                window=window,
                thaw_from=iso_utc(times.thaw_from),
                made_from=iso_utc(times.made_from),
                fill_by=iso_utc(times.fill_by),
                batch=batch.code if batch else None,
                batch_status=batch.status if batch else None,
                state=_state(batch, record),
                infusion_record=f"IR{record.id}" if record else None,
                fate=record.fate if record else None,
                infused_from=_iso(record.started_at) if record else None,
                infused_to=_iso(record.stopped_at) if record else None,
                done=record is not None and record.fate in GIVEN,
            )
        )
    return PlanView(
        recipient=recipient.code,
        trial=recipient.trial,
        cohort=recipient.cohort,
        sop=sop.id,
        product=sop.product_name,
        dose_per_kg=units.fmt(plan.dose_per_kg, "cells_per_kg"),
        day_one=plan.day_one.isoformat(),
        window_days=plan.window_days,
        lead=f"{plan.lead_minutes} min",
        coi=plan.coi,
        coi_eye_readable=coi.eye_readable() if coi else None,
        coi_check=coi.check if coi else None,
        infusions=rows,
    )


def plan_view(db: Database, code: str) -> PlanView:
    """A recipient's plan: days, dates, make-by times, and which infusions are made."""
    with db.session() as session:
        recipient = find_recipient(session, code)
        return _view(session, recipient, plan_of(session, recipient, "RECIPIENT"))


@dataclass(frozen=True)
class DueToday:
    """A dose a plan needs made today: for whom, which infusion, from when and by when."""

    recipient: str
    infusion: int
    sop: str
    planned_at: datetime
    thaw_from: datetime
    fill_by: datetime
    batch: str | None


def due_today(db: Database, today: date) -> list[DueToday]:
    """Planned infusions whose dose is to be made today, not yet released; soonest first.

    Due today: the thaw window opens by today and the infusion is not on an earlier day.
    """
    found: list[DueToday] = []
    with db.session() as session:
        for plan, recipient in session.execute(
            select(TreatmentPlan, Recipient).join(
                Recipient, Recipient.id == TreatmentPlan.recipient_id
            )
        ).all():
            sop = _sop(plan)
            made = dose_batches_of(session, recipient.code)
            for inf in infusions_of(session, plan):
                times = make_by(sop, as_utc(inf.planned_at), timedelta(minutes=plan.lead_minutes))
                batch = made.get(inf.number)
                if batch is not None and batch.status == "released":
                    continue
                if times.thaw_from.date() <= today <= as_utc(inf.planned_at).date():
                    found.append(
                        DueToday(
                            recipient=recipient.code,
                            infusion=inf.number,
                            sop=sop.id,
                            planned_at=as_utc(inf.planned_at),
                            thaw_from=times.thaw_from,
                            fill_by=times.fill_by,
                            batch=batch.code if batch else None,
                        )
                    )
    return sorted(found, key=lambda d: d.fill_by)
