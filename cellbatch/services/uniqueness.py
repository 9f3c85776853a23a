"""The process's uniqueness rules: each one's check, and the same refusal from the database.

A use case checks a rule under the write lock and refuses with a message that says what
is taken and by what. The database holds each rule too, as a unique index (see
``cellbatch.db.tables``), so no path can break it. Should a write ever reach the index
first, the unit of work runs the rule's check again on what is now stored and gives
its refusal: the person sees the same message either way, never the database's text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from cellbatch.db.constraints import broken_unique
from cellbatch.db.database import Database
from cellbatch.db.tables import Bag, BagCustody, Batch, InfusionRecord, User, Vial
from cellbatch.domain.errors import CellbatchError, InvalidInput, RuleViolation
from cellbatch.domain.plans import DoseMade


def batch_code_free(session: Session, code: str) -> None:
    """Refuse a batch code that is taken: one batch per code."""
    if session.execute(select(Batch.id).where(Batch.code == code)).first():
        raise RuleViolation(f"batch {code} exists already")


def doses_of(session: Session, recipient: str) -> list[tuple[str, DoseMade]]:
    """The recipient's dose batches (code), rejected ones too, as the plan's rules read them."""
    doses = []
    for batch in session.execute(
        select(Batch).where(Batch.recipient_id == recipient).order_by(Batch.id)
    ).scalars():
        if batch.infusion_number is None:
            continue
        bags = session.execute(select(func.count(Bag.id)).where(Bag.batch_id == batch.id))
        fates = session.execute(
            select(InfusionRecord.fate).where(InfusionRecord.batch_id == batch.id)
        ).scalars()
        doses.append(
            (
                batch.code,
                DoseMade(
                    batch.infusion_number,
                    batch.status == "rejected",
                    bags.scalar_one(),
                    tuple(fates),
                ),
            )
        )
    return doses


def dose_slot_free(session: Session, recipient: str, infusion: int) -> None:
    """Refuse a dose batch for an infusion given, or whose dose may still be given.

    A dose not given (rejected, its bags not infused or discarded) leaves the infusion free
    for a replacement (``domain.plans.DoseMade.pending``).
    """
    doses = [(code, d) for code, d in doses_of(session, recipient) if d.infusion == infusion]
    given = next((code for code, d in doses if d.given), None)
    if given:
        raise RuleViolation(
            f"recipient {recipient}'s infusion {infusion} was given (dose batch {given})"
        )
    taken = next((code for code, d in doses if d.pending), None)
    if taken:
        raise RuleViolation(
            f"recipient {recipient} already has dose batch {taken} for infusion {infusion}"
        )


def dose_attempt(session: Session, recipient: str, infusion: int) -> int:
    """The attempt number of a new dose batch: one more than the infusion's batches so far."""
    return 1 + sum(1 for _, d in doses_of(session, recipient) if d.infusion == infusion)


def positions_free(session: Session, wanted: list[str]) -> None:
    """Refuse storage positions that hold a vial in stock: one vial in stock per position.

    A position is the same whatever the case it was typed in ("Tank 2" is "tank 2").
    """
    folded = [w.lower() for w in wanted]
    taken = session.execute(
        select(Vial.location).where(
            func.lower(Vial.location).in_(folded), Vial.thaw_entry_id.is_(None)
        )
    ).scalars()
    occupied = sorted(taken, key=lambda w: folded.index(w.lower()))
    if occupied:
        more = f" (and {len(occupied) - 1} more of them)" if len(occupied) > 1 else ""
        raise InvalidInput(
            "--first-position",
            f"{occupied[0]} already holds a vial in stock{more}; expected free positions",
        )


def user_id_free(session: Session, username: str) -> None:
    """Refuse a user ID that is taken whatever its case; IDs are never reused."""
    same = session.execute(
        select(User.username).where(func.lower(User.username) == username.lower())
    ).scalar_one_or_none()
    if same is not None:
        raise RuleViolation(
            f"user ID {username!r} is taken ({same!r}): user IDs are unique whatever "
            "their case, and never reused"
        )


def bag_number_free(session: Session, batch_id: int, number: int) -> None:
    """Refuse a second bag with the same number in a batch (``--bag N`` names one bag)."""
    if session.execute(
        select(Bag.id).where(Bag.batch_id == batch_id, Bag.number == number)
    ).first():
        code = session.get(Batch, batch_id).code
        raise RuleViolation(f"{code} already has a bag {number}")


def bag_step_once(session: Session, bag_id: int, kind: str) -> None:
    """Refuse a second issue (``kind`` ``issue``) or receipt (``receipt``) of a bag."""
    done = session.execute(
        select(BagCustody).where(BagCustody.bag_id == bag_id, BagCustody.kind == kind)
    ).scalar_one_or_none()
    if done is not None:
        bag = session.get(Bag, bag_id)
        code = session.get(Batch, bag.batch_id).code
        what = "issued" if kind == "issue" else "received"
        at = done.at.strftime("%Y-%m-%d %H:%M")
        raise RuleViolation(f"{code} bag {bag.number} is {what} already (C{done.id} at {at} UTC)")


RULES: dict[str, tuple[str, Callable[[Session, Any], None] | None]] = {
    "ix_batch_code": ("one batch per code", lambda s, row: batch_code_free(s, row.code)),
    "ux_dose_attempt": (
        "one dose batch per recipient, infusion and attempt",
        lambda s, row: dose_slot_free(s, row.recipient_id, row.infusion_number),
    ),
    "ux_vial_position_in_stock": (
        "one vial in stock per storage position",
        lambda s, row: positions_free(s, [row.location]),
    ),
    "ux_release_decision_final": ("one release or rejection per batch", None),
    "ux_bag_number": (
        "one bag per number in a batch",
        lambda s, row: bag_number_free(s, row.batch_id, row.number),
    ),
    "ux_bag_custody_issue": (
        "one issue per bag",
        lambda s, row: bag_step_once(s, row.bag_id, "issue"),
    ),
    "ux_bag_custody_receipt": (
        "one receipt per bag",
        lambda s, row: bag_step_once(s, row.bag_id, "receipt"),
    ),
    "ix_app_user_username": ("one account per user ID", lambda s, r: user_id_free(s, r.username)),
    "ux_app_user_username_folded": (
        "one account per user ID, whatever its case",
        lambda s, row: user_id_free(s, row.username),
    ),
}
"""Unique index → (the rule in words, its check on a row that broke it, if it has one).

A final decision is kept single by the batch's status (a released or rejected batch is
locked), checked by the release itself; its index has no check of its own here.
"""


def refusal(db: Database, exc: IntegrityError, row: Any | None) -> CellbatchError | None:
    """The clean refusal for a write the database refused as breaking a uniqueness rule.

    The rule's own check runs on what the database now holds (read in a session of its
    own) with the values of ``row``, the record that could not be written. None when
    ``exc`` is not about a unique index or constraint.
    """
    name = broken_unique(exc)
    if name is None:
        return None
    rule = RULES.get(name)
    if rule is not None and rule[1] is not None and row is not None:
        with db.session() as session:
            try:
                rule[1](session, row)
            except CellbatchError as refused:
                return refused
    what = f" ({rule[0]})" if rule else ""
    return RuleViolation(
        f"another record already holds what this one needs{what}: nothing was saved; "
        "look again at what is recorded and try again"
    )
