"""Look-back: every product made from a donation, forward to the recipients.

Forward from a donor (or a tissue lot, a material lot or a bank): the banks made from it, the
dose batches made from those banks, their bags and the recipients. Holds (new donor
information, a recall) use the same reading, so that what a recall holds is exactly what
the look-back lists.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session

from cellbatch.db.tables import Batch, TissueLot


def banks_of_lots(session: Session, lot_ids: list[int]) -> list[Batch]:
    """The banks (expansion batches) made from these tissue lots, oldest first."""
    if not lot_ids:
        return []
    return list(
        session.execute(
            select(Batch).where(Batch.tissue_lot_id.in_(lot_ids)).order_by(Batch.id)
        ).scalars()
    )


def doses_of_banks(session: Session, bank_ids: list[int]) -> list[Batch]:
    """The dose batches made from these banks, oldest first."""
    if not bank_ids:
        return []
    return list(
        session.execute(
            select(Batch).where(Batch.parent_batch_id.in_(bank_ids)).order_by(Batch.id)
        ).scalars()
    )


def donor_batches(session: Session, donor_id: int) -> list[Batch]:
    """Every bank and dose batch made from a donor's donations (banks first)."""
    lots = list(
        session.execute(select(TissueLot.id).where(TissueLot.donor_id == donor_id)).scalars()
    )
    banks = banks_of_lots(session, lots)
    return banks + doses_of_banks(session, [b.id for b in banks])
