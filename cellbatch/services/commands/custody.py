"""Issue and chain of custody: a released bag leaves the cleanroom and changes hands.

Each step is a scan of the bag's label (DIN and product code) and the log-in of the person
taking the bag (re-authenticated), recorded with who handed it over and when. A bag is issued
only when its batch is released, the bag is in date and not on hold, and only once; after
that only the person holding it hands it over (to the ward, to the bedside).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from cellbatch import units
from cellbatch.db.database import Database
from cellbatch.db.tables import Bag, BagCustody, Batch, User
from cellbatch.domain.errors import InvalidInput, PermissionDenied, RuleViolation
from cellbatch.domain.text import typed_text
from cellbatch.domain.timeparse import as_utc, iso_utc
from cellbatch.domain.users import Actor, Role
from cellbatch.services.auth import reauthenticate
from cellbatch.services.batch_access import find_batch
from cellbatch.services.commands.bedside import bag_of_scans
from cellbatch.services.queries.holds import batch_holds
from cellbatch.services.unit_of_work import UnitOfWork

ISSUING_ROLES = (Role.TECHNICIAN, Role.SUPERVISOR, Role.QA)
"""Who issues a bag from the cleanroom."""


@dataclass(frozen=True)
class CustodyStep:
    """One step of a bag's chain of custody, as shown."""

    kind: str
    batch: str
    bag: int
    handed_over_by: str
    taken_by: str
    container: str | None
    temperature_c: float | None
    at: str

    def text(self) -> str:
        """The step as one line (CLI and screen read alike)."""
        extra = f", {self.container}" if self.container else ""
        extra += f", {self.temperature_c:g} °C" if self.temperature_c is not None else ""
        return f"{self.at} {self.kind}: {self.handed_over_by} → {self.taken_by}{extra}"


def _bag(uow: UnitOfWork, scans: list[str]) -> tuple[Bag, Batch]:
    bag, problems = bag_of_scans(uow.session, scans)
    if bag is None:
        raise InvalidInput("--scan", "; ".join(problems))
    return bag, uow.session.get(Batch, bag.batch_id)


def _step(uow: UnitOfWork, kind: str, bag: Bag, giver: Actor, taker: Actor, **extra) -> str:
    row = uow.add(
        BagCustody(
            batch_id=bag.batch_id, bag_id=bag.id, kind=kind, from_user=giver.id,
            to_user=taker.id, at=uow.now, **extra,
        ),
        batch_id=bag.batch_id,
    )  # fmt: skip
    return f"C{row.id}"


def issue_bag(
    db: Database,
    actor: Actor,
    to_user: str,
    to_password: str,
    scans: list[str],
    *,
    container: str,
    temperature: str | None = None,
) -> str:
    """Issue a released, in-date, unheld bag to the person who takes it (who logs in)."""
    actor.require(*ISSUING_ROLES, action="issue bags")
    container = typed_text(container, "--container", what="the transport container", limit=200)
    temp = units.parse(temperature, "temperature", field="--temperature") if temperature else None
    taker = reauthenticate(db, to_user, to_password)
    if taker.id == actor.id:
        raise PermissionDenied("--to: a bag is handed to another person")
    with UnitOfWork(db, actor) as uow:
        bag, batch = _bag(uow, scans)
        if batch.status != "released":
            raise RuleViolation(f"{batch.code} is {batch.status}, not released: not issued")
        if uow.now >= as_utc(bag.expires_at):
            raise RuleViolation(
                f"{batch.code} bag {bag.number} expired at {iso_utc(as_utc(bag.expires_at))}: "
                "not issued"
            )
        holds = batch_holds(uow.session, batch)
        if holds:
            raise RuleViolation(
                f"{batch.code} is ON HOLD: {'; '.join(h.text() for h in holds)}: not issued"
            )
        if uow.session.execute(select(BagCustody.id).where(BagCustody.bag_id == bag.id)).first():
            raise RuleViolation(f"{batch.code} bag {bag.number} is issued already")
        ref = _step(uow, "issue", bag, actor, taker, container=container, temperature_c=temp)
        uow.commit()
        return ref


def hand_over(db: Database, actor: Actor, to_user: str, to_password: str, scans: list[str]) -> str:
    """The bag's holder hands it to the next person (who logs in), scanning its label."""
    taker = reauthenticate(db, to_user, to_password)
    if taker.id == actor.id:
        raise PermissionDenied("--to: a bag is handed to another person")
    with UnitOfWork(db, actor) as uow:
        bag, batch = _bag(uow, scans)
        last = (
            uow.session.execute(
                select(BagCustody).where(BagCustody.bag_id == bag.id).order_by(BagCustody.id.desc())
            )
            .scalars()
            .first()
        )
        if last is None:
            raise RuleViolation(f"{batch.code} bag {bag.number} is not issued yet")
        if last.to_user != actor.id:
            holder = uow.session.get(User, last.to_user)
            raise PermissionDenied(
                f"{batch.code} bag {bag.number} is held by {holder.username}: only they hand "
                "it over"
            )
        ref = _step(uow, "hand-over", bag, actor, taker)
        uow.commit()
        return ref


def custody_chain(db: Database, code: str, bag_number: int = 1) -> list[CustodyStep]:
    """Every step of a bag's chain of custody, in order."""
    with db.session() as session:
        batch = find_batch(session, code)
        people = {u.id: u.username for u in session.execute(select(User)).scalars()}
        rows = session.execute(
            select(BagCustody, Bag)
            .join(Bag, Bag.id == BagCustody.bag_id)
            .where(BagCustody.batch_id == batch.id, Bag.number == bag_number)
            .order_by(BagCustody.id)
        ).all()
        return [
            CustodyStep(
                kind=c.kind,
                batch=batch.code,
                bag=b.number,
                handed_over_by=people[c.from_user],
                taken_by=people[c.to_user],
                container=c.container,
                temperature_c=c.temperature_c,
                at=iso_utc(as_utc(c.at)),
            )  # fmt: skip
            for c, b in rows
        ]
