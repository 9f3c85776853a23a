"""A recall: QA holds, in one signed action, everything a look-back from an origin reaches.

The recall reads the same forward look-back the screen and ``cellbatch lookback`` show
(``queries.lookback.forward_in``) inside its own transaction, and places one hold (cause
``recall``) on every bank and dose batch it lists, so their vials and bags are held with them;
each held batch gets its deviation (``commands.holds.place_hold``) and QA's electronic
signature (``approved``) over its hold. Lifting is the holds' own (GMP-29): per batch, by QA,
after the deviation is closed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from cellbatch.db.database import Database
from cellbatch.db.tables import Batch, HeldBatch
from cellbatch.domain.errors import RuleViolation
from cellbatch.domain.text import typed_text
from cellbatch.domain.users import Role
from cellbatch.services.auth import reauthenticate
from cellbatch.services.commands.holds import place_hold
from cellbatch.services.commands.signatures import add_signature
from cellbatch.services.queries.lookback import Lookback, forward_in
from cellbatch.services.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Recalled:
    """What a recall held: the hold, and the look-back it held."""

    hold: str
    lookback: Lookback
    held: list[str]


def recall(
    db: Database, username: str, password: str, origin: str, ref: str, *, reason: str
) -> Recalled:
    """Hold every bank, vial, dose and bag a look-back from ``origin`` reaches (QA, signed)."""
    reason = typed_text(reason, "--reason", what="why the products are recalled")
    signer = reauthenticate(db, username, password)
    signer.require(Role.QA, action="recall products")
    with UnitOfWork(db, signer) as uow:
        view, reached = forward_in(uow.session, origin, ref)
        hold = place_hold(
            uow, cause="recall", reason=f"recall from {view.origin}: {reason}", batches=reached
        )
        if hold is None:
            raise RuleViolation(
                f"nothing to recall from {view.origin}: no bank or dose batch that is not "
                "rejected was made from it"
            )
        held = uow.session.execute(
            select(HeldBatch, Batch)
            .join(Batch, Batch.id == HeldBatch.batch_id)
            .where(HeldBatch.hold_id == hold.id)
            .order_by(HeldBatch.id)
        ).all()
        for row, batch in held:
            add_signature(uow, signer, batch, "held_batch", row.id, "approved")
        uow.commit()
        return Recalled(f"H{hold.id}", view, [b.code for _r, b in held])
