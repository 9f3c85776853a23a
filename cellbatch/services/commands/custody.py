"""Issue and chain of custody: a released bag leaves the cleanroom and changes hands.

Each step is a scan of the bag's label (DIN and product code) and the log-in of the person
taking the bag (re-authenticated), recorded with who handed it over and when. A bag is issued
only when its batch is released, the bag is in date and not on hold, and only once; after
that only the person holding it hands it over. The ward receives it once (a step of its own:
the container's condition, the temperature in transit from the logger packed at the issue or
one reading); an excursion from the transport range puts the bag on hold. A bag not received
says NO MATCH at the bedside (docs/clinic.md, "Receipt on the ward").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session

from cellbatch import units
from cellbatch.db.database import Database
from cellbatch.db.tables import Bag, BagCustody, Batch, InfusionRecord, User
from cellbatch.domain import transport
from cellbatch.domain.errors import InvalidInput, PermissionDenied, RuleViolation
from cellbatch.domain.text import typed_text
from cellbatch.domain.timeparse import as_utc, iso_utc
from cellbatch.domain.users import BAG_HOLDER_ROLES, CLINIC_ROLES, Actor, Role
from cellbatch.services.auth import reauthenticate
from cellbatch.services.batch_access import find_batch
from cellbatch.services.commands.bedside import bag_of_scans
from cellbatch.services.commands.holds import place_hold
from cellbatch.services.queries.holds import batch_holds
from cellbatch.services.queries.logger_file import read_logger_file
from cellbatch.services.queries.storage import bag_storage
from cellbatch.services.uniqueness import bag_step_once
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
    logger_id: str | None = None
    condition: str | None = None
    """The container's condition on arrival (a receipt)."""
    readings: int | None = None
    lowest_c: float | None = None
    highest_c: float | None = None
    excursion: str | None = None

    def text(self) -> str:
        """The step as one line (CLI and screen read alike)."""
        extra = f", {self.container}" if self.container else ""
        extra += f", logger {self.logger_id}" if self.logger_id and self.kind == "issue" else ""
        extra += f", {self.temperature_c:g} °C" if self.temperature_c is not None else ""
        extra += f", container {self.condition}" if self.condition else ""
        if self.readings and self.lowest_c is not None and self.highest_c is not None:
            seen = transport.readings_text(self.readings, self.lowest_c, self.highest_c)
            extra += f", logger {self.logger_id}: {seen}"
        if self.excursion:
            extra += f", EXCURSION: {self.excursion}"
        return f"{self.at} {self.kind}: {self.handed_over_by} → {self.taken_by}{extra}"


def _temperature(text: str | None) -> float | None:
    """A typed ``--temperature``: a temperature a transport can plausibly read, or None."""
    if not text:
        return None
    celsius = units.parse(text, "temperature", field="--temperature")
    return transport.plausible(celsius, "--temperature")


def _bag(uow: UnitOfWork, scans: list[str]) -> tuple[Bag, Batch]:
    bag, problems = bag_of_scans(uow.session, scans)
    if bag is None:
        raise InvalidInput("--scan", "; ".join(problems))
    return bag, uow.session.get(Batch, bag.batch_id)


def _step(uow: UnitOfWork, kind: str, bag: Bag, giver: int, taker: int, **extra) -> str:
    row = uow.add(
        BagCustody(
            batch_id=bag.batch_id, bag_id=bag.id, kind=kind, from_user=giver,
            to_user=taker, at=uow.now, **extra,
        ),
        batch_id=bag.batch_id,
    )  # fmt: skip
    return f"C{row.id}"


def _taker(db: Database, actor: Actor, to_user: str, to_password: str) -> Actor:
    """The person taking the bag, logged in: another person, of a role that holds bags."""
    taker = reauthenticate(db, to_user, to_password)
    if taker.id == actor.id:
        raise PermissionDenied("--to: a bag is handed to another person")
    if taker.role not in BAG_HOLDER_ROLES:
        allowed = ", ".join(r.value for r in BAG_HOLDER_ROLES)
        raise PermissionDenied(
            f"--to: {taker.username} ({taker.role.value}) may not take a bag: it is issued or "
            f"handed to {allowed}"
        )
    return taker


def issue_bag(
    db: Database,
    actor: Actor,
    to_user: str,
    to_password: str,
    scans: list[str],
    *,
    container: str,
    temperature: str | None = None,
    logger: str | None = None,
) -> str:
    """Issue a released, in-date, unheld bag to the person who takes it (who logs in).

    ``logger`` is the temperature logger packed with it: its readings are read at the receipt.
    """
    actor.require(*ISSUING_ROLES, action="issue bags")
    container = typed_text(container, "--container", what="the transport container", limit=200)
    if logger is not None and logger.strip():
        logger = typed_text(logger, "--logger", what="the logger's ID", limit=100, one_line=True)
    else:
        logger = None
    temp = _temperature(temperature)
    taker = _taker(db, actor, to_user, to_password)
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
        storage = bag_storage(uow.session, bag)
        if temp is not None:
            transport.check_at_issue(temp, storage.range, "--temperature")
        bag_step_once(uow.session, bag.id, "issue")
        ref = _step(uow, "issue", bag, actor.id, taker.id, container=container, temperature_c=temp,
                    logger_id=logger)  # fmt: skip
        uow.commit()
        return ref


def hand_over(db: Database, actor: Actor, to_user: str, to_password: str, scans: list[str]) -> str:
    """The bag's holder hands it to the next person (who logs in), scanning its label.

    A bag whose fate is recorded (infused, discarded, …) is not handed over any more.
    """
    taker = _taker(db, actor, to_user, to_password)
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
        fate = uow.session.execute(
            select(InfusionRecord).where(InfusionRecord.bag_id == bag.id)
        ).scalar_one_or_none()
        if fate is not None:
            raise RuleViolation(
                f"{batch.code} bag {bag.number} has its fate recorded (IR{fate.id}: "
                f"{fate.fate}): it is not handed over any more"
            )
        if last.to_user != actor.id:
            holder = uow.session.get(User, last.to_user)
            raise PermissionDenied(
                f"{batch.code} bag {bag.number} is held by {holder.username}: only they hand "
                "it over"
            )
        ref = _step(uow, "hand-over", bag, actor.id, taker.id)
        uow.commit()
        return ref


def _steps(session: Session, bag: Bag) -> list[BagCustody]:
    return list(
        session.execute(
            select(BagCustody).where(BagCustody.bag_id == bag.id).order_by(BagCustody.id)
        ).scalars()
    )


@dataclass(frozen=True)
class Receipt:
    """What the receipt of a bag recorded, and whether it put the bag on hold."""

    ref: str
    batch: str
    bag: int
    logger: str | None
    """The logger whose readings were read (None: one reading on arrival)."""
    readings: int
    lowest_c: float
    highest_c: float
    excursion: str | None
    hold: str | None
    storage: str = ""
    """The bag's storage range checked (``15–25 °C``)."""
    uncounted: str = ""
    """The logger's readings outside the transport, not counted (``; not counted: 1 reading
    before the issue``); empty when all counted."""

    def text(self) -> str:
        """``EASC-D001 bag 1 received (C3): 12 readings 16.1–21.3 °C, within 15–25 °C``."""
        seen = (
            transport.readings_text(self.readings, self.lowest_c, self.highest_c)
            if self.logger
            else f"{self.lowest_c:g} °C on arrival"
        )
        head = f"{self.batch} bag {self.bag} received ({self.ref}): {seen}"
        if self.excursion is None:
            return f"{head}, within {self.storage}{self.uncounted}"
        held = f"; the bag is ON HOLD {self.hold}" if self.hold else ""
        return f"{head}; EXCURSION: {self.excursion}{held}{self.uncounted}"


def receive_bag(
    db: Database,
    actor: Actor,
    scans: list[str],
    *,
    condition: str,
    logger_file: Path | None = None,
    temperature: str | None = None,
) -> Receipt:
    """The ward receives an issued bag: once, by its holder or a clinic user (logged in).

    The temperature in transit is the logger's readings (``logger_file``) when a logger was
    packed at the issue, else one reading on arrival; outside the transport range the
    receipt is recorded and the bag put on hold (cause ``transport``) with its deviation, in
    the same transaction.
    """
    condition = typed_text(
        condition, "--condition", what="the transport container's condition on arrival",
        limit=200, one_line=True,
    )  # fmt: skip
    temp = _temperature(temperature)
    with UnitOfWork(db, actor) as uow:
        bag, batch = _bag(uow, scans)
        steps = _steps(uow.session, bag)
        if not steps:
            raise RuleViolation(f"{batch.code} bag {bag.number} is not issued yet: not received")
        bag_step_once(uow.session, bag.id, "receipt")
        holder = steps[-1].to_user
        if actor.id != holder and actor.role not in CLINIC_ROLES:
            name = uow.session.get(User, holder).username
            raise PermissionDenied(
                f"{batch.code} bag {bag.number} is held by {name}: only they or the clinic "
                "receive it"
            )
        issue = steps[0]
        storage = bag_storage(uow.session, bag).range
        if issue.logger_id:
            if logger_file is None:
                raise InvalidInput(
                    "--logger-file",
                    f"logger {issue.logger_id} travelled with the bag: its readings file is "
                    "needed (time,temperature [degC])",
                )
            if temp is not None:
                raise InvalidInput(
                    "--temperature", f"logger {issue.logger_id} travelled with the bag: its "
                    "readings are the temperature in transit, not one reading",
                )  # fmt: skip
            readings = read_logger_file(logger_file)
            seen = transport.transit(readings, as_utc(issue.at), uow.now, "--logger-file", storage)
        else:
            if logger_file is not None:
                raise InvalidInput(
                    "--logger-file", "no logger was recorded at the issue: give the reading "
                    "on arrival (--temperature)",
                )  # fmt: skip
            if temp is None:
                raise InvalidInput(
                    "--temperature",
                    "no logger travelled with the bag: expected the temperature on arrival, "
                    "e.g. 5 °C",
                )
            seen = transport.one_reading(temp, storage)
        ref = _step(
            uow, "receipt", bag, holder, actor.id, condition=condition,
            temperature_c=temp, logger_id=issue.logger_id,
            readings=seen.readings if issue.logger_id else None,
            temperature_min_c=seen.lowest, temperature_max_c=seen.highest,
            excursion=seen.excursion,
        )  # fmt: skip
        hold = None
        if seen.excursion:
            hold = place_hold(
                uow,
                cause="transport",
                reason=f"{batch.code} bag {bag.number} received ({ref}): {seen.excursion}",
                batches=[batch],
            )
        uow.commit()
        return Receipt(
            ref=ref, batch=batch.code, bag=bag.number, logger=issue.logger_id,
            readings=seen.readings,
            lowest_c=seen.lowest, highest_c=seen.highest, excursion=seen.excursion,
            hold=f"H{hold.id}" if hold is not None else None,
            storage=storage.text(), uncounted=seen.uncounted(),
        )  # fmt: skip


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
                logger_id=c.logger_id,
                condition=c.condition,
                readings=c.readings,
                lowest_c=c.temperature_min_c,
                highest_c=c.temperature_max_c,
                excursion=c.excursion,
            )  # fmt: skip
            for c, b in rows
        ]
