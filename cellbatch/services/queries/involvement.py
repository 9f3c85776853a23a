"""What a person did on a batch: the involvement that bars them from releasing it."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session

from cellbatch.db.database import Database
from cellbatch.db.tables import Batch, Correction, QcResult, Signature, StepEntry
from cellbatch.services.batch_access import find_batch
from cellbatch.services.queries.signatures import ref_of


def involvement(session: Session, batch: Batch, user_id: int) -> list[str]:
    """What a person recorded, corrected, performed or verified in a batch (empty: nothing)."""
    found: list[str] = []
    if batch.recorded_by == user_id:
        found.append("started the batch")
    for (entry_id,) in session.execute(
        select(StepEntry.id).where(StepEntry.batch_id == batch.id, StepEntry.recorded_by == user_id)
    ):
        found.append(f"recorded E{entry_id}")
    for (result_id,) in session.execute(
        select(QcResult.id).where(QcResult.batch_id == batch.id, QcResult.recorded_by == user_id)
    ):
        found.append(f"recorded Q{result_id}")
    for entity, entity_id in session.execute(
        select(Correction.entity, Correction.entity_id).where(
            Correction.batch_id == batch.id, Correction.corrected_by == user_id
        )
    ):
        found.append(f"corrected {ref_of(entity, entity_id)}")
    for meaning, entity, entity_id in session.execute(
        select(Signature.meaning, Signature.entity, Signature.entity_id).where(
            Signature.batch_id == batch.id,
            Signature.signer_id == user_id,
            Signature.meaning.in_(("performed", "verified")),
        )
    ):
        found.append(f"{meaning} {ref_of(entity, entity_id)}")
    return found


def involvement_of(db: Database, code: str, user_id: int) -> list[str]:
    """What a person did on a batch that bars them from releasing it (empty: nothing)."""
    with db.session() as session:
        return involvement(session, find_batch(session, code), user_id)
