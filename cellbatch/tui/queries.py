"""What the screens show, gathered from the services in a worker thread as plain data.

Nothing here decides anything: it calls the services and arranges their read models for
display (which batches are in process, which time windows are running). Services are
imported inside the functions so that starting the UI stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cellbatch.domain.sop import Sop
    from cellbatch.domain.users import Actor
    from cellbatch.services.database import Database

HOME_BATCHES = 50
"""How many in-process batches the home screen looks at (newest first)."""
LOT_WARNING_DAYS = 30
"""Material lots expiring within this many days are listed on the technician's home."""


def parse_iso(text: str) -> datetime:
    """An ISO UTC timestamp from a read model as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@lru_cache(maxsize=32)
def _sop(sop_id: str, version: str, folder: str, stamp: float) -> Sop:
    from cellbatch.domain.sop import find_sop
    from cellbatch.services.queries.sops import available_sops

    return find_sop(available_sops(), sop_id, version)


def _sops_stamp() -> tuple[str, float]:
    """The SOP folder and its newest change, so an edited file is read again."""
    from cellbatch.settings import paths

    folder = paths().sops_dir
    stamps = [f.stat().st_mtime for f in folder.glob("*.toml")]
    return str(folder), max(stamps, default=0.0)


def sop_of_view(view: dict[str, Any]) -> Sop:
    """The SOP a batch was made under, checked against the hash the batch pins."""
    from cellbatch.domain.errors import RuleViolation

    sop = _sop(view["sop"]["id"], view["sop"]["version"], *_sops_stamp())
    if sop.content_hash != view["sop"]["content_hash"]:
        raise RuleViolation(
            f"{sop.label} on disk differs from the version {view['code']} was made under: "
            "the form cannot be built from it"
        )
    return sop


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


def deadlines_of(view: dict[str, Any]) -> list[Deadline]:
    """The running windows of a dose batch, from its record and its SOP."""
    if view["kind"] != "dose" or view["status"] in ("released", "rejected"):
        return []
    sop = sop_of_view(view)
    out: list[Deadline] = []
    recipient = view.get("recipient") or ""
    fuc, thaw, fill = view.get("fucosylation"), view.get("thaw"), view.get("fill")
    if fill is None:
        if thaw and sop.windows.thaw_to_fill_max:
            due = parse_iso(thaw["thawed_at"]) + sop.windows.thaw_to_fill_max.as_timedelta()
            out.append(Deadline(view["code"], recipient, "fill by (thaw)", due))
        if fuc and sop.windows.fucosylation_end_to_fill_max:
            due = parse_iso(fuc["end"]) + sop.windows.fucosylation_end_to_fill_max.as_timedelta()
            out.append(Deadline(view["code"], recipient, "fill by (fucosyl.)", due))
        if fuc and sop.dose and sop.dose.expiry_from == "fucosylation_end":
            due = parse_iso(fuc["end"]) + sop.dose.shelf_life.as_timedelta()
            out.append(Deadline(view["code"], recipient, "infuse by (expiry)", due))
    elif view.get("expiry"):
        out.append(
            Deadline(view["code"], recipient, "infuse by (expiry)", parse_iso(view["expiry"]))
        )
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
            data.deadlines.extend(deadlines_of(view))
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
