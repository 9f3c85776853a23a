"""Holds in force: the one question every door asks before it lets a product go on.

A batch is *held* while a :class:`~cellbatch.db.tables.HeldBatch` row names it and is not
lifted; its vials (a bank) and its bags (a dose batch) are held with it. Labels, issue,
scanning a label back, the bedside check, release and a new dose from a bank all ask
:func:`holds_on` (or :func:`refuse_if_held`) and refuse a held product. Holds are placed by
new donor information, a failing late result and a recall (``services.commands.holds``),
and lifted only by QA with a signature.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from cellbatch.db.database import Database
from cellbatch.db.tables import (
    Bag,
    Batch,
    Deviation,
    Donor,
    HeldBatch,
    ProductHold,
    User,
)
from cellbatch.domain.errors import InvalidInput, NotFound, RuleViolation
from cellbatch.domain.refs import record_number
from cellbatch.domain.timeparse import iso_utc
from cellbatch.services.batch_access import find_batch

HOLD_CAUSES = {
    "donor-result": "a reactive donor marker result",
    "donor-eligibility": "the donor was made ineligible",
    "late-result": "a failing result after release",
    "recall": "a recall",
    "transport": "a temperature excursion in transit",
}
"""Why products are put on hold, and how that reads in a sentence."""


@dataclass(frozen=True)
class HoldOnBatch:
    """One hold in force on a batch: which hold, why, since when, and its deviation."""

    hold: str
    cause: str
    reason: str
    placed_at: str
    deviation: str

    def text(self) -> str:
        """One line for a refusal or a screen: ``H2 (a recall): <reason>``."""
        return f"{self.hold} ({HOLD_CAUSES.get(self.cause, self.cause)}): {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON output."""
        return asdict(self)


def parse_hold_ref(ref: str, field: str = "HOLD") -> int:
    """``H3`` or ``3`` as the hold's id."""
    found = record_number(ref, ("H", ""), "hold")
    if found is None:
        raise InvalidInput(field, f"expected H<number>, got {ref.strip()[:20]!r}")
    return found[1]


def holds_on(session: Session, batch_ids: Iterable[int]) -> dict[int, list[HoldOnBatch]]:
    """The holds in force on each of these batches (a batch that is not held is absent)."""
    ids = list(set(batch_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(HeldBatch, ProductHold)
        .join(ProductHold, ProductHold.id == HeldBatch.hold_id)
        .where(HeldBatch.batch_id.in_(ids), HeldBatch.lifted_at.is_(None))
        .order_by(HeldBatch.id)
    ).all()
    out: dict[int, list[HoldOnBatch]] = {}
    for held, hold in rows:
        out.setdefault(held.batch_id, []).append(
            HoldOnBatch(
                hold=f"H{hold.id}",
                cause=hold.cause,
                reason=hold.reason,
                placed_at=iso_utc(hold.placed_at),
                deviation=f"D{held.deviation_id}",
            )
        )
    return out


def batch_holds(session: Session, batch: Batch) -> list[HoldOnBatch]:
    """The holds in force on one batch (its vials and bags are held with it)."""
    return holds_on(session, [batch.id]).get(batch.id, [])


def refuse_if_held(session: Session, batch: Batch, action: str) -> None:
    """Refuse ``action`` on a held batch, naming each hold and who may lift it."""
    holds = batch_holds(session, batch)
    if holds:
        raise RuleViolation(
            f"{batch.code} is ON HOLD: {'; '.join(h.text() for h in holds)}. It cannot be "
            f"{action} until QA lifts the hold (cellbatch hold lift)"
        )


def is_held(db: Database, code: str, bag_number: int | None = None) -> list[HoldOnBatch]:
    """Is this batch (or this bag of it) held? The holds in force; empty when it is not."""
    with db.session() as session:
        batch = find_batch(session, code)
        if bag_number is not None:
            found = session.execute(
                select(Bag.id).where(Bag.batch_id == batch.id, Bag.number == bag_number)
            ).first()
            if found is None:
                raise NotFound(f"{batch.code} has no bag {bag_number}")
        return batch_holds(session, batch)


@dataclass(frozen=True)
class HeldItem:
    """A batch a hold names: what it is, whom it was for, and whether it is still held."""

    batch: str
    kind: str
    status: str
    recipient: str | None
    infusion: int | None
    bags: list[str]
    deviation: str
    deviation_status: str
    lifted_at: str | None
    lifted_by: str | None
    lift_reason: str | None

    @property
    def held(self) -> bool:
        """Whether this batch is still held by the hold."""
        return self.lifted_at is None


@dataclass(frozen=True)
class HoldView:
    """A hold as shown: why, who placed it, every batch and bag, and the recipients."""

    ref: str
    cause: str
    reason: str
    donor: str | None
    placed_at: str
    placed_by: str
    items: list[HeldItem] = field(default_factory=list)

    @property
    def in_force(self) -> bool:
        """Whether any batch is still held by it."""
        return any(item.held for item in self.items)

    @property
    def recipients(self) -> list[str]:
        """The recipients of the dose batches it names (look-back: each must be followed up)."""
        return sorted({i.recipient for i in self.items if i.recipient})

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON output."""
        data = asdict(self)
        data["in_force"] = self.in_force
        data["recipients"] = self.recipients
        for item, shown in zip(self.items, data["items"], strict=True):
            shown["held"] = item.held
        return data


def _views(session: Session, holds: list[ProductHold]) -> list[HoldView]:
    if not holds:
        return []
    ids = [h.id for h in holds]
    rows = session.execute(
        select(HeldBatch, Batch, Deviation)
        .join(Batch, Batch.id == HeldBatch.batch_id)
        .join(Deviation, Deviation.id == HeldBatch.deviation_id)
        .where(HeldBatch.hold_id.in_(ids))
        .order_by(HeldBatch.id)
    ).all()
    bags: dict[int, list[str]] = {}
    batch_ids = {batch.id for _h, batch, _d in rows}
    if batch_ids:
        for bag in session.execute(
            select(Bag).where(Bag.batch_id.in_(batch_ids)).order_by(Bag.batch_id, Bag.number)
        ).scalars():
            shown = f"bag {bag.number} ({bag.din} {bag.product_code})"
            bags.setdefault(bag.batch_id, []).append(shown)
    people = {
        u.id: u.username
        for u in session.execute(select(User)).scalars()  # a handful of accounts
    }
    donors = {d.id: d.code for d in session.execute(select(Donor)).scalars()}
    items: dict[int, list[HeldItem]] = {}
    for held, batch, dev in rows:
        items.setdefault(held.hold_id, []).append(
            HeldItem(
                batch=batch.code,
                kind=batch.kind,
                status=batch.status,
                recipient=batch.recipient_id,
                infusion=batch.infusion_number,
                bags=bags.get(batch.id, []),
                deviation=f"D{dev.id}",
                deviation_status=dev.status,
                lifted_at=iso_utc(held.lifted_at),
                lifted_by=people.get(held.lifted_by) if held.lifted_by else None,
                lift_reason=held.lift_reason,
            )
        )
    return [
        HoldView(
            ref=f"H{h.id}",
            cause=h.cause,
            reason=h.reason,
            donor=donors.get(h.donor_id) if h.donor_id else None,
            placed_at=iso_utc(h.placed_at),
            placed_by=people.get(h.placed_by, "?"),
            items=items.get(h.id, []),
        )
        for h in holds
    ]


def hold_views(db: Database, *, in_force_only: bool = True) -> list[HoldView]:
    """Every hold, newest first (only those still holding something, unless asked)."""
    with db.session() as session:
        holds = list(session.execute(select(ProductHold).order_by(ProductHold.id.desc())).scalars())
        views = _views(session, holds)
    return [v for v in views if v.in_force or not in_force_only]


def hold_view(db: Database, ref: str) -> HoldView:
    """One hold with every batch it names."""
    hold_id = parse_hold_ref(ref)
    with db.session() as session:
        hold = session.get(ProductHold, hold_id)
        if hold is None:
            raise NotFound(f"no hold H{hold_id}")
        return _views(session, [hold])[0]
