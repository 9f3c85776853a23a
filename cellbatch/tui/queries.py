"""What the screens show, gathered from the services in a worker thread as plain data.

Nothing here decides anything: it calls the services and arranges their read models for
display (which batches are in process, which time windows are running). Services are
imported inside the functions so that starting the UI stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cellbatch.domain.sop import Sop
    from cellbatch.domain.steps import StepContext
    from cellbatch.domain.users import Actor
    from cellbatch.services.database import Database

HOME_BATCHES = 50
"""How many in-process batches the home screen looks at (newest first)."""
LOT_WARNING_DAYS = 30
"""Material lots expiring within this many days are listed on the technician's home."""


def parse_iso(text: str) -> datetime:
    """An ISO UTC timestamp from a read model as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def sop_of_view(view: dict[str, Any], db: Database) -> Sop:
    """The SOP a batch was made under: the copy pinned in the database, never the file."""
    from cellbatch.services.queries.sops import pinned_sop

    return pinned_sop(db, view["sop"]["content_hash"])


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
    next_steps: list[str]


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


@dataclass
class HomeData:
    """Everything the home screen shows for one user."""

    in_process: list[InProcessBatch] = field(default_factory=list)
    awaiting_decision: list[InProcessBatch] = field(default_factory=list)
    deadlines: list[Deadline] = field(default_factory=list)
    lots: list[LotWarning] = field(default_factory=list)
    deviations: list[OpenDeviation] = field(default_factory=list)
    verifications: list[PendingVerification] = field(default_factory=list)


def _raw(value: Any) -> Any:
    """A read-model value as the rules take it (a quantity's canonical number)."""
    return value["value"] if isinstance(value, dict) and "value" in value else value


def step_context_of(
    view: dict[str, Any], sop: Sop, kind: str, at: datetime, stock: tuple[int, ...] = ()
) -> StepContext:
    """The context of the batch's next ``kind`` step, from its read model (no database)."""
    from cellbatch.domain.steps import Prior, StepContext

    before = tuple(
        Prior(
            s["id"],
            s["kind"],
            s["passage"],
            {name: _raw(value) for name, value in s["values"].items()},
            parse_iso(s["performed_at"]),
        )
        for s in view["steps"]
    )
    return StepContext(
        step=sop.step(kind),
        sop_label=sop.label,
        at=at,
        started_at=parse_iso(view["started_at"]),
        before=before,
        expansion=sop.expansion,
        dose=sop.dose,
        windows=sop.windows,
        dose_per_kg=_raw(view.get("dose_per_kg")),
        body_weight_kg=_raw(view.get("body_weight")),
        stock=stock,
    )


def deadlines_of(view: dict[str, Any], db: Database) -> list[Deadline]:
    """The running windows of a dose batch: what its step kinds say of the steps to come."""
    from cellbatch.domain.steps import kind_of

    if view["kind"] != "dose" or view["status"] in ("released", "rejected"):
        return []
    recipient = view.get("recipient") or ""
    if view.get("fill") is not None:
        if not view.get("expiry"):
            return []
        return [Deadline(view["code"], recipient, "infuse by (expiry)", parse_iso(view["expiry"]))]
    sop = sop_of_view(view, db)
    done = {s["kind"] for s in view["steps"]}
    last = view["steps"][-1]["performed_at"] if view["steps"] else view["started_at"]
    out: list[Deadline] = []
    for step in sop.steps:
        if step.kind in done:
            continue
        context = step_context_of(view, sop, step.kind, parse_iso(last))
        for what, due in kind_of(step.kind).deadlines(context):
            out.append(Deadline(view["code"], recipient, what, due))
    return out


def _summary(view: dict[str, Any]) -> InProcessBatch:
    steps = view["steps"]
    last = f"{steps[-1]['kind']} {steps[-1]['performed_at'][:10]}" if steps else "started"
    return InProcessBatch(
        view["code"],
        view["kind"],
        f"{view['sop']['id']} v{view['sop']['version']}",
        last,
        list(view["next_steps"]),
    )


def home_data(db: Database, actor: Actor, today: date) -> HomeData:
    """The home screen of ``actor``: work in process, running windows, lots, QA queue."""
    from cellbatch.services.queries.batch_view import batch_view
    from cellbatch.services.queries.batches import list_batches
    from cellbatch.services.queries.deviations import list_deviations
    from cellbatch.services.queries.donors import list_materials
    from cellbatch.services.queries.verification import verification_status

    data = HomeData()
    for status in ("in-process", "quarantine"):
        for summary in list_batches(db, status=status, limit=HOME_BATCHES):
            view = batch_view(db, summary.code)
            item = _summary(view)
            if view["next_steps"] and status == "in-process":
                data.in_process.append(item)
            else:
                data.awaiting_decision.append(item)
            data.deadlines.extend(deadlines_of(view, db))
            data.verifications.extend(
                PendingVerification(view["code"], v.ref, v.what, v.status)
                for v in verification_status(db, summary.code)
                if v.status in ("pending", "invalid")
            )
    data.deadlines.sort(key=lambda d: d.due)
    data.deviations = [
        OpenDeviation(d.id, d.batch, d.title, d.classification or "unclassified")
        for d in list_deviations(db, status="open")
    ]
    horizon = today + timedelta(days=LOT_WARNING_DAYS)
    for m in list_materials(db):
        expires = date.fromisoformat(m["expires"])
        if expires <= horizon:
            data.lots.append(LotWarning(m["lot"], m["kind"], m["name"], expires))
    return data


def materials_by_lot(db: Database) -> dict[str, dict[str, Any]]:
    """Every material lot by lot number (for checking a scanned lot as it is typed)."""
    from cellbatch.services.queries.donors import list_materials

    return {m["lot"]: m for m in list_materials(db)}


@dataclass(frozen=True)
class PickLists:
    """What the fields of a new batch pick from."""

    sops: tuple[str, ...]
    """IDs of the SOPs with an approved version for the kind of batch."""
    banks: tuple[str, ...] = ()
    """Released banks (a dose batch's parent)."""
    recipients: tuple[str, ...] = ()
    """The registered recipients, by ID."""


def pick_lists(db: Database, kind: str) -> PickLists:
    """The approved SOPs of ``kind``, the released banks and the registered recipients."""
    from cellbatch.domain.errors import CellbatchError
    from cellbatch.services.queries.batches import list_batches
    from cellbatch.services.queries.sops import available_sops

    try:
        sops = tuple(sorted({s.id for s in available_sops() if s.kind == kind and s.is_approved}))
    except CellbatchError:  # a broken SOP file is reported when the batch is started
        sops = ()
    if kind != "dose":
        return PickLists(sops)
    banks = tuple(
        b.code for b in list_batches(db, status="released", limit=200) if b.kind == "expansion"
    )
    from cellbatch.services.queries.recipients import recipient_list

    return PickLists(sops, banks, tuple(r.code for r in recipient_list(db)))
