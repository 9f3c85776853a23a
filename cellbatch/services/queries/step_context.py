"""The context a step kind's rules need, read from the database.

That is the SOP's rules for the step, the batch's entries around it and the parent bank's
vials in stock.

Recording, correcting and the screens build the context here and hand it to the kind
(:mod:`cellbatch.domain.steps`), so every door asks the kind the same question.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from cellbatch.db.tables import Batch, StepEntry, Vial
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


def step_context(
    batch: Batch,
    sop: Sop,
    kind: str,
    *,
    at: datetime,
    before: Sequence[StepEntry],
    after: Sequence[StepEntry] = (),
    stock: Sequence[int] = (),
) -> StepContext:
    """The context of a ``kind`` step of ``batch`` done at ``at`` after ``before``."""
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
    )
