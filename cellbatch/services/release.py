"""The QA release decision on a bank or a dose batch (release, reject, quarantine)."""

from __future__ import annotations

from cellbatch.db.database import Database
from cellbatch.db.tables import ReleaseDecision
from cellbatch.domain.errors import InvalidInput
from cellbatch.domain.users import Actor, Role
from cellbatch.services.batch_access import ensure_open, find_batch
from cellbatch.services.unit_of_work import UnitOfWork

DECISIONS = {"release": "released", "reject": "rejected", "quarantine": "quarantine"}
"""Decision → the batch status it gives."""


def decide(db: Database, actor: Actor, code: str, decision: str, reason: str) -> str:
    """Record QA's decision and set the batch status; returns the new status."""
    actor.require(Role.QA, action="release or reject batches")
    if decision not in DECISIONS:
        raise InvalidInput(
            "--decision", f"expected release, reject or quarantine, got {decision!r}"
        )
    if not reason.strip():
        raise InvalidInput("--reason", "expected the reason for the decision")
    with UnitOfWork(db, actor) as uow:
        batch = find_batch(uow.session, code, for_update=True)
        ensure_open(batch)
        uow.add(
            ReleaseDecision(
                batch_id=batch.id,
                decision=decision,
                reason=reason.strip(),
                decided_at=uow.now,
                decided_by=actor.id,
            ),
            batch_id=batch.id,
            reason=reason.strip(),
        )
        uow.change(
            batch,
            "status",
            DECISIONS[decision],
            reason=reason.strip(),
            batch_id=batch.id,
            action=decision,
        )
        uow.commit()
        return batch.status
