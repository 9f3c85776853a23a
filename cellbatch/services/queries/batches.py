"""Finding batches: the batch list, counts and a batch's id by its code."""

from __future__ import annotations

from sqlalchemy import func, select

from cellbatch.db.database import Database
from cellbatch.db.tables import Bag, Batch, TissueLot
from cellbatch.services.batch_access import (
    find_batch,
)
from cellbatch.services.queries.batch_list import BatchSummary, list_batches

__all__ = ["BatchSummary", "batch_id_of", "batches_of_din", "count_batches", "list_batches"]


def count_batches(db: Database) -> int:
    """How many batches there are."""
    with db.session() as session:
        return session.execute(select(func.count()).select_from(Batch)).scalar_one()


def batch_id_of(db: Database, code: str) -> int:
    """The database id of a batch, by its code."""
    with db.session() as session:
        return find_batch(session, code).id


def batches_of_din(db: Database, din: str) -> list[str]:
    """The batches a scanned DIN names: the dose batches of its bags, else its donation's banks.

    A bag's DIN names the dose batch filled into it; a donation's DIN (on the tissue lot and the
    bank's vials) names the banks expanded from it.
    """
    with db.session() as session:
        doses = session.execute(
            select(Batch.code).join(Bag, Bag.batch_id == Batch.id).where(Bag.din == din)
        ).scalars()
        found = list(dict.fromkeys(doses))
        if found:
            return found
        banks = session.execute(
            select(Batch.code)
            .join(TissueLot, TissueLot.id == Batch.tissue_lot_id)
            .where(TissueLot.din == din)
            .order_by(Batch.id)
        ).scalars()
        return list(banks)
