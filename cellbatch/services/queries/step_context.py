"""The context a step kind's rules need, read from the database.

That is the SOP's rules for the step, the batch's entries around it, and the parent bank's
vials in stock and release.

Recording, correcting and the screens build the context here and hand it to the kind
(:mod:`cellbatch.domain.steps`), so every door asks the kind the same question.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from cellbatch.db.tables import Batch, ReleaseDecision, StepEntry, Vial
from cellbatch.domain.sop import Sop
from cellbatch.domain.steps import Prior, StepContext
from cellbatch.domain.timeparse import as_utc


def prior(entry: StepEntry) -> Prior:
    """A recorded step as the rules see it."""
    return Prior(
        f"E{entry.id}", entry.kind, entry.passage, dict(entry.values), as_utc(entry.performed_at)
    )


def vials_in_stock(
    session: Session, bank_id: int | None, *, for_update: bool = False
) -> list[Vial]:
    """The bank's vials not yet thawed, by number (locked when ``for_update``)."""
    if bank_id is None:
        return []
    query = (
        select(Vial)
        .where(Vial.batch_id == bank_id, Vial.thaw_entry_id.is_(None))
        .order_by(Vial.number)
    )
    if for_update:
        query = query.with_for_update()
    return list(session.execute(query).scalars())


@dataclass(frozen=True)
class ParentRelease:
    """A dose batch's bank and when QA released it."""

    code: str
    at: datetime


def parent_release(session: Session, batch: Batch) -> ParentRelease | None:
    """The release of ``batch``'s parent bank (None: no parent, or not released)."""
    if batch.parent_batch_id is None:
        return None
    return _released(session, batch.parent_batch_id)


def bank_release(session: Session, bank: Batch) -> ParentRelease | None:
    """When QA released ``bank`` (None: not released): the floor of its doses' times."""
    return _released(session, bank.id)


def _released(session: Session, bank_id: int | None) -> ParentRelease | None:
    row = session.execute(
        select(Batch.code, ReleaseDecision.decided_at)
        .join(ReleaseDecision, ReleaseDecision.batch_id == Batch.id)
        .where(Batch.id == bank_id, ReleaseDecision.decision == "release")
        .order_by(ReleaseDecision.id.desc())
        .limit(1)
    ).first()
    return None if row is None else ParentRelease(row[0], as_utc(row[1]))


def step_context(
    batch: Batch,
    sop: Sop,
    kind: str,
    *,
    at: datetime,
    before: Sequence[StepEntry],
    after: Sequence[StepEntry] = (),
    stock: Sequence[int] = (),
    released: ParentRelease | None = None,
) -> StepContext:
    """The context of a ``kind`` step of ``batch`` done at ``at`` after ``before``.

    ``released`` is the parent bank's release (:func:`parent_release`), which the doors that
    record or correct a dose's steps pass.
    """
    return StepContext(
        step=sop.step(kind),
        sop_label=sop.label,
        at=as_utc(at),
        started_at=as_utc(batch.started_at),
        before=tuple(prior(e) for e in before),
        after=tuple(prior(e) for e in after),
        expansion=sop.expansion,
        dose=sop.dose,
        windows=sop.windows,
        dose_per_kg=batch.dose_per_kg,
        body_weight_kg=batch.body_weight_kg,
        stock=tuple(sorted(stock)),
        parent_released_at=released.at if released else None,
        parent_code=released.code if released else None,
    )
