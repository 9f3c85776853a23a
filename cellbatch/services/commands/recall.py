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

Recalling again (:mod:`cellbatch.domain.recall`): an origin whose recall hold is still open is
refused, nothing written; a bag whose recall report is still open gets no second report, the
recall names the report that stays open (in its output and in its hold's reason, so in every
deviation it opens). Each recall still places its own hold on what it reaches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlmodel import Session

from cellbatch.db.database import Database
from cellbatch.db.tables import (
    AdverseEventReport,
    Bag,
    Batch,
    Deviation,
    HeldBatch,
    ProductHold,
    Recipient,
    User,
)
from cellbatch.domain.errors import RuleViolation
from cellbatch.domain.recall import OpenRecall, ensure_not_recalled, report_stays_open
from cellbatch.domain.text import MAX_TEXT, typed_text
from cellbatch.domain.timeparse import as_utc
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
    adverse_events_open: list[str] = field(default_factory=list)
    """One line per infused bag whose recall report was open already and stays open (no
    second report): ``adverse-event report AE1 stays open for RA-P002, EASC-D000 bag 1``."""

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
        ensure_not_recalled(view.origin, _open_recalls(uow.session, view.origin))
        given = [(bag, *_bag_of(uow.session, bag)) for bag in view.given]
        kept: dict[int, str] = {}
        for bag, bag_id, recipient in given:
            line = _open_report(uow.session, bag, bag_id, recipient) if recipient else None
            if line:
                kept[bag_id] = line
        # the hold's reason is the recall's record (and each deviation's): it names the
        # reports that stay open, after as much of the reason as the column holds
        named = "".join(f"; {line}" for line in kept.values())
        record = f"recall from {view.origin}: {reason}"[: MAX_TEXT - len(named)] + named
        hold = place_hold(uow, cause="recall", reason=record, batches=reached, origin=view.origin)
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
            _report(uow, bag, bag_id, recipient, hold.id, view.origin, reason)
            for bag, bag_id, recipient in given
            if recipient is not None and bag_id not in kept
        ]
        uow.commit()
        return Recalled(
            f"H{hold.id}", view, [b.code for _r, b in held], reports, list(kept.values())
        )


def _open_recalls(session: Session, origin: str) -> list[OpenRecall]:
    """The recall holds of ``origin`` still holding some batch, with those batches' deviations."""
    rows = session.execute(
        select(ProductHold, User.username, Deviation.id, Batch.code)
        .join(HeldBatch, HeldBatch.hold_id == ProductHold.id)
        .join(Batch, Batch.id == HeldBatch.batch_id)
        .join(Deviation, Deviation.id == HeldBatch.deviation_id)
        .join(User, User.id == ProductHold.placed_by)
        .where(
            ProductHold.cause == "recall",
            ProductHold.origin == origin,
            HeldBatch.lifted_at.is_(None),
        )
        .order_by(ProductHold.id, HeldBatch.id)
    ).all()
    found: dict[int, OpenRecall] = {}
    for hold, username, deviation, code in rows:
        seen = found.get(hold.id)
        deviations = (*(seen.deviations if seen else ()), (f"D{deviation}", code))
        found[hold.id] = OpenRecall(
            f"H{hold.id}", f"{as_utc(hold.placed_at):%Y-%m-%d %H:%M} UTC", username, deviations
        )
    return list(found.values())


def _bag_of(session: Session, bag: BagItem) -> tuple[int, Recipient | None]:
    """The bag's id and its recipient's record (None: a dose made before recipients were)."""
    bag_id = session.execute(
        select(Bag.id)
        .join(Batch, Batch.id == Bag.batch_id)
        .where(Batch.code == bag.batch, Bag.number == bag.number)
    ).scalar_one()
    recipient = session.execute(
        select(Recipient).where(Recipient.code == bag.recipient)
    ).scalar_one_or_none()
    return bag_id, recipient


def _open_report(session: Session, bag: BagItem, bag_id: int, recipient: Recipient) -> str | None:
    """The line naming an open report a recall opened for this bag, if there is one.

    A closed report, or one opened by a failing late result, does not count.
    """
    report = session.execute(
        select(AdverseEventReport.id)
        .where(
            AdverseEventReport.bag_id == bag_id,
            AdverseEventReport.hold_id.is_not(None),
            AdverseEventReport.status == "open",
        )
        .order_by(AdverseEventReport.id)
        .limit(1)
    ).scalar_one_or_none()
    if report is None:
        return None
    return report_stays_open(f"AE{report}", recipient.code, bag.batch, bag.number)


def _report(
    uow: UnitOfWork,
    bag: BagItem,
    bag_id: int,
    recipient: Recipient,
    hold_id: int,
    origin: str,
    reason: str,
) -> str:
    """Open an adverse-event report for the recipient of an infused recalled bag.

    A bag of a dose made before recipients were records has no recipient to report on: the
    recall's output still names it as given (the caller opens no report for it).
    """
    batch = uow.session.execute(select(Batch).where(Batch.code == bag.batch)).scalar_one()
    report = uow.add(
        AdverseEventReport(
            recipient_id=recipient.id,
            batch_id=batch.id,
            description=(
                f"Recall H{hold_id} from {origin} ({reason}): {bag.batch} bag {bag.number} was "
                f"{bag.fate_text()} to {recipient.code} before the recall. Follow up the "
                "recipient; see the batch's hold and deviations."
            )[:MAX_TEXT],
            status="open",
            opened_at=uow.now,
            opened_by=uow.actor.id,  # type: ignore[union-attr]
            hold_id=hold_id,
            bag_id=bag_id,
        ),
        batch_id=batch.id,
    )
    return f"AE{report.id}: {recipient.code}, {bag.batch} bag {bag.number} {bag.fate_text()}"
