"""Putting products on hold after new information, and QA lifting a hold with a signature.

A hold is placed in the same transaction as the information that calls for it (a reactive
donor marker, a donor made ineligible, a failing late result, a recall): every batch it
names gets a deviation, so each is investigated and the batch record shows it. Only QA
lifts a hold, batch by batch, once that batch's deviation is closed, by a QA officer not
involved in the batch, with an electronic signature over the lifted hold (meaning
``approved``). A released batch regains a valid release with the same act: the release
signature given before the new information covers a record without its deviation, so QA
signs the batch record as released again.
"""

from __future__ import annotations

from sqlalchemy import select

from cellbatch.db.database import Database
from cellbatch.db.tables import Batch, Deviation, HeldBatch, ProductHold
from cellbatch.domain.errors import NotFound, PermissionDenied, RuleViolation
from cellbatch.domain.text import MAX_TEXT, typed_text
from cellbatch.domain.users import Actor, Role
from cellbatch.services.auth import reauthenticate
from cellbatch.services.commands.deviations import open_automatic
from cellbatch.services.commands.signatures import add_signature
from cellbatch.services.queries.holds import HOLD_CAUSES, parse_hold_ref
from cellbatch.services.queries.involvement import involvement, involvement_text
from cellbatch.services.unit_of_work import UnitOfWork


def place_hold(
    uow: UnitOfWork,
    *,
    cause: str,
    reason: str,
    batches: list[Batch],
    donor_id: int | None = None,
    origin: str | None = None,
) -> ProductHold | None:
    """Hold these batches (a rejected one needs no hold) in ``uow``; None if none is left.

    Each held batch gets a deviation saying why, what is held and who received it. A recall
    gives its ``origin`` (``bank EASC-B001``), by which a second recall of it is refused.
    """
    if cause not in HOLD_CAUSES:
        raise ValueError(f"unknown hold cause {cause!r}")
    targets = [b for b in batches if b.status != "rejected"]
    if not targets:
        return None
    actor: Actor = uow.actor  # type: ignore[assignment]
    reason = reason[:MAX_TEXT]
    hold = uow.add(
        ProductHold(
            cause=cause,
            reason=reason,
            donor_id=donor_id,
            origin=origin,
            placed_at=uow.now,
            placed_by=actor.id,
        ),
        reason=reason,
    )
    recipients = sorted({b.recipient_id for b in targets if b.recipient_id})
    for batch in targets:
        given = f" for recipient {batch.recipient_id}" if batch.recipient_id else ""
        dev = open_automatic(
            uow,
            batch,
            title=f"Product on hold H{hold.id}: {HOLD_CAUSES[cause]}",
            description=(
                f"{reason}. {batch.code} ({batch.kind}{given}, status {batch.status}) was put "
                f"on hold H{hold.id} with {len(targets)} batch(es); recipients concerned: "
                f"{', '.join(recipients) or 'none yet'}. Investigate the risk to the product "
                "and to each recipient; QA lifts the hold only after this deviation is closed."
            ),
            reason=f"hold H{hold.id}",
        )
        uow.add(
            HeldBatch(hold_id=hold.id, batch_id=batch.id, deviation_id=dev.id),
            batch_id=batch.id,
            reason=f"hold H{hold.id}: {reason}"[:MAX_TEXT],
        )
    return hold


def lift_hold(
    db: Database,
    username: str,
    password: str,
    ref: str,
    *,
    reason: str,
    batch: str | None = None,
) -> list[str]:
    """QA lifts a hold from one of its batches (or all still held); returns the batch codes.

    Each batch's deviation must be closed, and the QA officer must not be involved in the
    batch. The lift is an electronic signature (``approved``) over the lifted hold; a
    released batch is signed as released again over its record as it now stands.
    """
    hold_id = parse_hold_ref(ref)
    reason = typed_text(reason, "--reason", what="the basis of QA's decision to lift the hold")
    signer = reauthenticate(db, username, password)
    signer.require(Role.QA, action="lift holds")
    with UnitOfWork(db, signer) as uow:
        hold = uow.session.execute(
            select(ProductHold).where(ProductHold.id == hold_id).with_for_update()
        ).scalar_one_or_none()
        if hold is None:
            raise NotFound(f"no hold H{hold_id}")
        rows = list(
            uow.session.execute(
                select(HeldBatch, Batch)
                .join(Batch, Batch.id == HeldBatch.batch_id)
                .where(HeldBatch.hold_id == hold.id)
                .order_by(HeldBatch.id)
            ).all()
        )
        if batch is not None:
            wanted = batch.strip().upper()
            rows = [(h, b) for h, b in rows if b.code == wanted]
            if not rows:
                raise NotFound(f"hold H{hold.id} does not hold a batch {batch.strip()!r}")
        pending = [(h, b) for h, b in rows if h.lifted_at is None]
        if not pending:
            which = f" for {rows[0][1].code}" if batch is not None else ""
            raise RuleViolation(f"hold H{hold.id} is already lifted{which}")
        for held, held_batch in pending:
            dev = uow.session.get(Deviation, held.deviation_id)
            if dev.status != "closed":
                raise RuleViolation(
                    f"{held_batch.code}: deviation D{dev.id} of hold H{hold.id} is open: QA "
                    "lifts a hold only after its investigation is closed (cellbatch deviation "
                    "update / close)"
                )
            involved = involvement(uow.session, held_batch, signer.id)
            if involved:
                raise PermissionDenied(
                    f"{signer.username} may not lift the hold on {held_batch.code}: they "
                    f"{involvement_text(involved)}"
                )
            for name, value in (
                ("lifted_at", uow.now),
                ("lifted_by", signer.id),
                ("lift_reason", reason),
            ):
                uow.change(held, name, value, reason=reason, batch_id=held_batch.id, action="lift")
            add_signature(uow, signer, held_batch, "held_batch", held.id, "approved")
            if held_batch.status == "released":
                add_signature(uow, signer, held_batch, "batch", held_batch.id, "released")
        uow.commit()
        return [b.code for _h, b in pending]
