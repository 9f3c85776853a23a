"""A recall: QA holds, in one signed action, everything a look-back from an origin reaches.

The recall reads the same forward look-back the screen and ``cellbatch lookback`` show
(``queries.lookback.forward_in``) inside its own transaction, and places one hold (cause
``recall``) on every bank and dose batch it lists, so their vials and bags are held with them;
each held batch gets its deviation (``commands.holds.place_hold``) and QA's electronic
signature (``approved``) over its hold. Lifting is the holds' own (GMP-29): per batch, by QA,
after the deviation is closed.

A recalled bag already (partly) infused cannot be held back from its recipient: the recall
says so for each bag (its fate from the look-back) and opens, in the same transaction, one
adverse-event report per infused bag for its recipient (docs/clinic.md, "Look-back and
recall"), for the clinic and QA to follow up as any other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from cellbatch.db.database import Database
from cellbatch.db.tables import AdverseEventReport, Batch, HeldBatch, Recipient
from cellbatch.domain.errors import RuleViolation
from cellbatch.domain.text import MAX_TEXT, typed_text
from cellbatch.domain.users import Role
from cellbatch.services.auth import reauthenticate
from cellbatch.services.commands.holds import place_hold
from cellbatch.services.commands.signatures import add_signature
from cellbatch.services.queries.lookback import BagItem, Lookback, forward_in
from cellbatch.services.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Recalled:
    """What a recall held: the hold, and the look-back it held."""

    hold: str
    lookback: Lookback
    held: list[str]
    adverse_events: list[str] = field(default_factory=list)
    """One line per report opened for a recipient given a recalled bag: ``AE3: RA-P001,
    EASC-D001 bag 1 infused at … (IR1)``."""

    def given_lines(self) -> list[str]:
        """Each recalled bag that was (partly) infused, and its report (prominent in output)."""
        return [
            f"ALREADY GIVEN: {b.batch} bag {b.number} to {b.recipient or '?'}: {b.fate_text()}"
            for b in self.lookback.given
        ]


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
        reports = [
            _report(uow, bag, f"H{hold.id}", view.origin, reason)
            for bag in view.given
        ]  # fmt: skip
        uow.commit()
        return Recalled(f"H{hold.id}", view, [b.code for _r, b in held], [r for r in reports if r])


def _report(uow: UnitOfWork, bag: BagItem, hold: str, origin: str, reason: str) -> str | None:
    """Open an adverse-event report for the recipient of an infused recalled bag.

    A bag of a dose made before recipients were records has no recipient to report on: the
    recall's output still names it as given (None here).
    """
    batch = uow.session.execute(select(Batch).where(Batch.code == bag.batch)).scalar_one()
    recipient = uow.session.execute(
        select(Recipient).where(Recipient.code == bag.recipient)
    ).scalar_one_or_none()
    if recipient is None:
        return None
    report = uow.add(
        AdverseEventReport(
            recipient_id=recipient.id,
            batch_id=batch.id,
            description=(
                f"Recall {hold} from {origin} ({reason}): {bag.batch} bag {bag.number} was "
                f"{bag.fate_text()} to {recipient.code} before the recall. Follow up the "
                "recipient; see the batch's hold and deviations."
            )[:MAX_TEXT],
            status="open",
            opened_at=uow.now,
            opened_by=uow.actor.id,  # type: ignore[union-attr]
        ),
        batch_id=batch.id,
    )
    return f"AE{report.id}: {recipient.code}, {bag.batch} bag {bag.number} {bag.fate_text()}"
