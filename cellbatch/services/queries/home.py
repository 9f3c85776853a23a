"""The home screen's data in a bounded number of statements, whatever the number of batches.

The batches in process and in quarantine (the newest :data:`HOME_BATCHES` of each), what
each is due next, the running time windows of dose batches, the critical entries waiting
for a second person, the open deviations and the material lots expiring soon. Each kind of
row is read once for all batches shown (one statement per table, about a dozen in all), and
the validity of each signature is computed once, from the rows already read. Open
deviations are counted, and only the newest :data:`HOME_DEVIATIONS` listed, so the home
reads as fast with thirty years of deviations as with the demo's.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from cellbatch.db.database import Database
from cellbatch.db.tables import (
    Bag,
    Batch,
    Correction,
    Deviation,
    MaterialLot,
    MaterialUse,
    QcResult,
    Signature,
    SopVersion,
    StepEntry,
)
from cellbatch.domain.sop import Sop
from cellbatch.domain.steps import kind_of
from cellbatch.domain.timeparse import iso_utc
from cellbatch.domain.users import ADVERSE_EVENT_ROLES, Actor
from cellbatch.services.queries.adverse_events import AdverseEventView, reports_of
from cellbatch.services.queries.batch_view import next_steps
from cellbatch.services.queries.signatures import SignedEntries, ref_of
from cellbatch.services.queries.sops import sop_of_row
from cellbatch.services.queries.step_context import step_context
from cellbatch.services.queries.verification import (
    qc_needs_verification,
    step_needs_verification,
    verification_state,
)

HOME_BATCHES = 50
"""How many batches of each status (in process, in quarantine) the home screen looks at."""
HOME_DEVIATIONS = 50
"""How many open deviations the home screen lists (the newest); it counts them all."""
LOT_WARNING_DAYS = 30
"""Material lots expiring within this many days are listed on the home screen."""


def parse_iso(text: str) -> datetime:
    """An ISO UTC timestamp from a read model as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Deadline:
    """A running time window of a dose batch (fill by, infuse by)."""

    code: str
    recipient: str
    what: str
    due: datetime


@dataclass(frozen=True)
class InProcessBatch:
    """A batch still being made, with what is due next."""

    code: str
    kind: str
    sop: str
    last_step: str
    next_steps: tuple[str, ...]


@dataclass(frozen=True)
class LotWarning:
    """A material lot that has expired or expires soon."""

    lot: str
    kind: str
    name: str
    expires: date


@dataclass(frozen=True)
class OpenDeviation:
    """A deviation still open (it blocks release)."""

    id: str
    batch: str
    title: str
    classification: str


@dataclass(frozen=True)
class PendingVerification:
    """A critical entry waiting for a second person."""

    batch: str
    ref: str
    what: str
    status: str


@dataclass(frozen=True)
class HomeData:
    """Everything the home screen shows for one user."""

    in_process: tuple[InProcessBatch, ...] = ()
    awaiting_decision: tuple[InProcessBatch, ...] = ()
    deadlines: tuple[Deadline, ...] = ()
    lots: tuple[LotWarning, ...] = ()
    deviations: tuple[OpenDeviation, ...] = ()
    """The newest open deviations, newest first (at most :data:`HOME_DEVIATIONS`)."""
    open_deviations: int = 0
    """How many deviations are open in all (``deviations`` may list fewer)."""
    verifications: tuple[PendingVerification, ...] = ()
    adverse_events: tuple[AdverseEventView, ...] = ()
    """Open adverse-event reports, for the clinic and QA (empty for the others)."""


def _rows_by_batch(session, table, ids: list[int]) -> dict[int, list]:
    """Plain rows of ``table`` for the batches ``ids``, in id order, grouped by batch."""
    out: dict[int, list] = defaultdict(list)
    if not ids:
        return out
    query = select(table.__table__).where(table.batch_id.in_(ids)).order_by(table.id)
    for row in session.execute(query).all():
        out[row.batch_id].append(row)
    return out


def deadlines(batch: Batch, sop: Sop, entries: list[StepEntry], bag: Bag | None) -> list[Deadline]:
    """The running windows of a dose batch not yet decided.

    What its step kinds say of the steps to come, or the bag's expiry once it is filled.
    """
    if batch.kind != "dose" or batch.status in ("released", "rejected"):
        return []
    recipient = batch.recipient_id or ""
    if any(e.kind == "fill" for e in entries):
        if bag is None:
            return []
        return [
            Deadline(
                batch.code, recipient, "infuse by (expiry)", parse_iso(iso_utc(bag.expires_at))
            )
        ]
    done = {e.kind for e in entries}
    last = entries[-1].performed_at if entries else batch.started_at
    out: list[Deadline] = []
    for step in sop.steps:
        if step.kind in done:
            continue
        context = step_context(batch, sop, step.kind, at=last, before=entries)
        for what, due in kind_of(step.kind).deadlines(context):
            out.append(Deadline(batch.code, recipient, what, due))
    return out


def home_data(db: Database, actor: Actor | None, today: date) -> HomeData:
    """The home screen: work in process, running windows, lots, the QA queue.

    ``actor`` is who looks (every user sees the same home today); ``today`` sets the
    horizon of the lot warnings.
    """
    with db.session() as session:
        shown: list[Batch] = []
        for status in ("in-process", "quarantine"):
            shown += session.execute(
                select(Batch)
                .where(Batch.status == status)
                .order_by(Batch.started_at.desc(), Batch.id.desc())
                .limit(HOME_BATCHES)
            ).scalars()
        ids = [b.id for b in shown]
        sops = (
            {
                row.id: row
                for row in session.execute(
                    select(SopVersion).where(SopVersion.id.in_({b.sop_version_id for b in shown}))
                ).scalars()
            }
            if shown
            else {}
        )
        entries = _rows_by_batch(session, StepEntry, ids)
        results = _rows_by_batch(session, QcResult, ids)
        dose_ids = [b.id for b in shown if b.kind == "dose"]
        bags: dict[int, Bag] = {}
        if dose_ids:
            for bag in session.execute(
                select(Bag).where(Bag.batch_id.in_(dose_ids)).order_by(Bag.id)
            ).scalars():
                bags.setdefault(bag.batch_id, bag)
        signed = _verifications_signed(session, ids, entries, results)
        in_process: list[InProcessBatch] = []
        awaiting: list[InProcessBatch] = []
        due: list[Deadline] = []
        pending: list[PendingVerification] = []
        parsed = {version: sop_of_row(row) for version, row in sops.items()}
        for batch in shown:
            row = sops[batch.sop_version_id]
            sop = parsed[batch.sop_version_id]
            steps = entries.get(batch.id, [])
            last = (
                f"{steps[-1].kind} {iso_utc(steps[-1].performed_at)[:10]}" if steps else "started"
            )
            options = tuple(next_steps(batch, sop, steps))
            item = InProcessBatch(
                batch.code, batch.kind, f"{row.sop_id} v{row.version}", last, options
            )
            if options and batch.status == "in-process":
                in_process.append(item)
            else:
                awaiting.append(item)
            due += deadlines(batch, sop, steps, bags.get(batch.id))
            for ref, what, needed in [
                (ref_of("step_entry", e.id), e.kind, step_needs_verification(sop, e)) for e in steps
            ] + [
                (ref_of("qc_result", q.id), q.name, qc_needs_verification(sop, q))
                for q in results.get(batch.id, [])
            ]:
                status = verification_state(needed, signed.verifications_of(ref))
                if status in ("pending", "invalid"):
                    pending.append(PendingVerification(batch.code, ref, what, status))
        horizon = today + timedelta(days=LOT_WARNING_DAYS)
        lots = session.execute(
            select(MaterialLot)
            .where(MaterialLot.expires_on <= horizon)
            .order_by(MaterialLot.expires_on)
        ).scalars()
        open_devs = session.execute(
            select(Deviation, Batch.code)
            .join(Batch, Batch.id == Deviation.batch_id)
            .where(Deviation.status == "open")
            .order_by(Deviation.id.desc())
            .limit(HOME_DEVIATIONS)
        ).all()
        open_count = session.execute(
            select(func.count()).select_from(Deviation).where(Deviation.status == "open")
        ).scalar_one()
        return HomeData(
            in_process=tuple(in_process),
            awaiting_decision=tuple(awaiting),
            deadlines=tuple(sorted(due, key=lambda d: d.due)),
            lots=tuple(LotWarning(m.lot_number, m.kind, m.name, m.expires_on) for m in lots),
            deviations=tuple(
                OpenDeviation(f"D{d.id}", code, d.title, d.classification or "unclassified")
                for d, code in open_devs
            ),
            open_deviations=open_count,
            verifications=tuple(pending),
            adverse_events=tuple(
                reports_of(session, open_only=True)
                if actor is not None and actor.role in ADVERSE_EVENT_ROLES
                else ()
            ),
        )


def _verifications_signed(
    session, ids: list[int], entries: dict[int, list], results: dict[int, list]
) -> SignedEntries:
    """The second-person verifications on the entries of these batches, validity computed."""
    if not ids:
        return SignedEntries.of([], {}, [], [])
    sigs = list(
        session.execute(
            select(Signature.__table__)
            .where(
                Signature.batch_id.in_(ids),
                Signature.meaning == "verified",
                Signature.entity.in_(("step_entry", "qc_result")),
            )
            .order_by(Signature.id)
        ).all()
    )
    if not sigs:
        return SignedEntries.of([], {}, [], [])
    step_ids = [s.entity_id for s in sigs if s.entity == "step_entry"]
    uses = (
        list(
            session.execute(
                select(MaterialUse.__table__)
                .where(MaterialUse.step_entry_id.in_(step_ids))
                .order_by(MaterialUse.id)
            ).all()
        )
        if step_ids
        else []
    )
    corrections = list(
        session.execute(
            select(Correction.__table__).where(Correction.batch_id.in_(ids)).order_by(Correction.id)
        ).all()
    )
    rows = {("step_entry", e.id): e for batch_rows in entries.values() for e in batch_rows}
    rows |= {("qc_result", q.id): q for batch_rows in results.values() for q in batch_rows}
    return SignedEntries.of(sigs, rows, uses, corrections)
