"""Shared checks of the process services: finding and locking batches, lots, values."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlmodel import Session

from cellbatch.db.tables import Batch, MaterialLot, QcResult, ReleaseDecision, StepEntry
from cellbatch.domain import late_results
from cellbatch.domain.errors import InvalidInput, NotFound, RuleViolation
from cellbatch.domain.timeparse import as_utc
from cellbatch.domain.users import RECORDING_ROLES, Actor

if TYPE_CHECKING:  # the SOP model is loaded by what records steps, not by every read
    from cellbatch.domain.sop import Parameter, Step

LOCKED_STATUSES = ("released", "rejected")
"""Batch statuses after which the record is locked."""

FUTURE_SLACK = timedelta(minutes=5)
"""How far ahead of the server clock a work time may lie (clock skew of terminals)."""


def find_batch(session: Session, code: str, *, for_update: bool = False) -> Batch:
    """The batch with this code (codes are kept in capitals: ``fuc-d001`` finds it too)."""
    query = select(Batch).where(Batch.code == code.strip().upper())
    if for_update:
        query = query.with_for_update()
    batch = session.execute(query).scalar_one_or_none()
    if batch is None:
        raise NotFound(f"no batch {code.strip()!r}")
    return batch


def ensure_open(batch: Batch) -> None:
    """Refuse any write to a released or rejected (locked) batch."""
    if batch.status in LOCKED_STATUSES:
        raise RuleViolation(
            f"batch {batch.code} is {batch.status} and locked: nothing more can be recorded, "
            "corrected, verified or signed on it"
        )


def ensure_open_for_entry(session: Session, batch: Batch, entity: str, entity_id: int) -> None:
    """Refuse a verification on a locked batch, except of a late result of a released one.

    A late result (recorded after the release: a result after infusion) is a critical entry
    like any other, and a second person verifies it on the released batch.
    """
    if batch.status == "released" and entity == "qc_result":
        row = session.get(QcResult, entity_id)
        decisions = session.execute(
            select(ReleaseDecision.decision, ReleaseDecision.decided_at).where(
                ReleaseDecision.batch_id == batch.id
            )
        ).all()
        released = late_results.released_at([(d, at) for d, at in decisions])
        if row is not None and row.batch_id == batch.id:
            if late_results.after_release(row.recorded_at, released):
                return
    ensure_open(batch)


def require_recorder(actor: Actor, action: str) -> None:
    """Only technicians and supervisors record process steps."""
    actor.require(*RECORDING_ROLES, action=action)


def entries(session: Session, batch_id: int) -> list[StepEntry]:
    """The batch's step entries in the order they were recorded."""
    return list(
        session.execute(
            select(StepEntry).where(StepEntry.batch_id == batch_id).order_by(StepEntry.id)
        ).scalars()
    )


def check_work_time(at: datetime, now: datetime, field: str = "--at") -> datetime:
    """Refuse a work time in the future: the record describes what was already done."""
    if at > now + FUTURE_SLACK:
        raise InvalidInput(
            field, f"{at:%Y-%m-%d %H:%M} UTC is in the future; expected the time the work was done"
        )
    return at


def not_before(at: datetime, floor: datetime, what: str, field: str = "--at") -> datetime:
    """Refuse a work time before ``floor`` (``what`` says what happened then)."""
    floor = as_utc(floor)
    if at < floor:
        raise InvalidInput(
            field,
            f"{at:%Y-%m-%d %H:%M} UTC is before {what} ({floor:%Y-%m-%d %H:%M} UTC); "
            "expected the time the work was done",
        )
    return at


def usable_material(
    session: Session,
    lot_number: str,
    *,
    on: datetime,
    field: str,
    kinds: Iterable[str] | None = None,
) -> MaterialLot:
    """A material lot that exists, is of an allowed kind and has not expired on ``on``."""
    lot = session.execute(
        select(MaterialLot).where(MaterialLot.lot_number == lot_number.strip())
    ).scalar_one_or_none()
    if lot is None:
        raise NotFound(
            f"{field}: no material lot {lot_number.strip()!r} (add it with "
            "`cellbatch material add --help`)"
        )
    allowed = list(kinds) if kinds is not None else None
    if allowed and lot.kind not in allowed:
        raise InvalidInput(
            field, f"lot {lot.lot_number} is {lot.kind}; expected {' or '.join(allowed)}"
        )
    if lot.expires_on < on.date():
        raise RuleViolation(
            f"{field}: material lot {lot.lot_number} ({lot.name}) expired on "
            f"{lot.expires_on:%Y-%m-%d}; an expired lot cannot be used"
        )
    return lot


def param(step: Step, name: str) -> Parameter | None:
    """The step's parameter of that name, if the SOP defines it."""
    return step.param(name) if step.has_param(name) else None
