"""Label reconciliation: every label printed, which one is in force, and what became of each.

A printed label is *in force* until it is superseded: a quarantine label by the release of its
batch, any label by a reprint of it, every label of a batch by the batch's rejection. A
superseded label must not be used: its scan fails, and its destruction is recorded. A label
is *applied* once a scan verified it on its container.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from cellbatch.db.database import Database
from cellbatch.db.tables import (
    Bag,
    Batch,
    LabelEvent,
    PrintedLabel,
    ReleaseDecision,
    Signature,
    SiteSettingsVersion,
    User,
    Vial,
)
from cellbatch.domain.errors import InvalidInput, NotFound
from cellbatch.domain.timeparse import as_utc, iso_utc
from cellbatch.services.batch_access import find_batch
from cellbatch.services.queries.plain import Person, Plain

IN_FORCE, SUPERSEDED, DESTROYED = "in force", "superseded", "destroyed"
"""What a printed label is now."""


@dataclass(frozen=True)
class PrintedLabelView:
    """One physical label: what it is for, what it carries, and what became of it."""

    id: int
    ref: str
    """How people name it: ``L12``."""
    kind: str
    """``bag``, ``vial`` or ``qc-sample``."""
    target: str
    """What it labels, in words: ``bag 1``, ``vial 7``, ``QC sample sterility``."""
    final: bool
    reprint: bool
    flags: str
    site_settings: str
    """The approved site settings version it was printed under (``site settings v1``)."""
    content_hash: str
    document_hash: str
    printed_at: str
    printed_by: str
    """Printed name of who printed it."""
    status: str
    """``in force``, ``superseded`` or ``destroyed``."""
    superseded_by: str | None
    approved_by: str | None
    """Printed name of the QA officer whose signature approved this reprint, if it needed one."""
    applied_at: str | None
    applied_by: str | None
    destroyed_at: str | None
    destroyed_by: str | None
    destroy_reason: str | None

    @property
    def title(self) -> str:
        """``L12, the final label (reprint) of bag 1``."""
        what = "final label" if self.final else "label"
        if self.kind == "bag" and not self.final:
            what = "quarantine label"
        return f"{self.ref}, the {what}{' (reprint)' if self.reprint else ''} of {self.target}"

    def describe(self) -> str:
        """What the label is and how it was made, for a scan report or the record."""
        return (
            f"{self.title}, printed {self.printed_at} by {self.printed_by} under "
            f"{self.site_settings}, content sha256 {self.content_hash[:12]}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON output."""
        return asdict(self)


def parse_label_ref(text: str, field: str = "--label") -> int:
    """``L12`` (or ``12``) as the printed label's id."""
    value = text.strip().upper().removeprefix("L") if isinstance(text, str) else ""
    if not value.isascii() or not value.isdigit() or len(value) > 9:
        raise InvalidInput(field, f"expected a label as L<number> (e.g. L3), got {text[:20]!r}")
    return int(value)


def _release_time(session: Session, batch: Batch) -> str:
    when = session.execute(
        select(ReleaseDecision.decided_at)
        .where(ReleaseDecision.batch_id == batch.id, ReleaseDecision.decision == "release")
        .order_by(ReleaseDecision.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return iso_utc(as_utc(when)) if when is not None else "?"


def supersession(session: Session, batch: Batch, labels: list[PrintedLabel]) -> dict[int, str]:
    """For each superseded label of ``batch`` (by id): what superseded it, in words."""
    by_target: dict[tuple, list[PrintedLabel]] = {}
    for label in sorted(labels, key=lambda row: row.id):
        key = (label.kind, label.bag_id, label.vial_id, label.sample, label.final)
        by_target.setdefault(key, []).append(label)
    released = batch.status == "released"
    out: dict[int, str] = {}
    for (kind, *_rest, final), group in by_target.items():
        for earlier, later in zip(group, group[1:], strict=False):
            out[earlier.id] = f"the reprint L{later.id}"
        if kind == "bag" and not final and released:
            when = _release_time(session, batch)
            for label in group:
                out[label.id] = f"the release of {batch.code} at {when}"
    if batch.status == "rejected":
        for label in labels:
            out[label.id] = f"the rejection of {batch.code}"
    return out


def label_in_force(session: Session, batch: Batch, **target: Any) -> PrintedLabel | None:
    """The label in force on one container (``bag_id=…``, ``vial_id=…`` or ``sample=…``)."""
    labels = printed_labels(session, batch)
    gone = supersession(session, batch, labels)
    matching = [
        label
        for label in labels
        if label.id not in gone and all(getattr(label, k) == v for k, v in target.items())
    ]
    return matching[-1] if matching else None


def printed_labels(session: Session, batch: Batch) -> list[PrintedLabel]:
    """Every label printed for ``batch``, oldest first."""
    query = select(PrintedLabel).where(PrintedLabel.batch_id == batch.id).order_by(PrintedLabel.id)
    return list(session.execute(query).scalars())


def _pairs(session: Session, query) -> dict:
    """A two-column query as a dictionary of its first column to its second."""
    return {first: second for first, second in session.execute(query).all()}


def label_views(session: Session, batch: Batch) -> list[PrintedLabelView]:
    """Every label printed for ``batch`` with its state now."""
    labels = printed_labels(session, batch)
    gone = supersession(session, batch, labels)
    people = {u.id: u.full_name for u in session.execute(select(User)).scalars()}
    versions = _pairs(session, select(SiteSettingsVersion.id, SiteSettingsVersion.version))
    bags = _pairs(session, select(Bag.id, Bag.number).where(Bag.batch_id == batch.id))
    vials = _pairs(session, select(Vial.id, Vial.number).where(Vial.batch_id == batch.id))
    approvals = {
        sig.entity_id: sig.signer_name
        for sig in session.execute(
            select(Signature).where(
                Signature.batch_id == batch.id, Signature.entity == "printed_label"
            )
        ).scalars()
    }
    views = []
    for label in labels:
        if label.kind == "bag":
            target = f"bag {bags.get(label.bag_id, '?')}"
        elif label.kind == "vial":
            target = f"vial {vials.get(label.vial_id, '?')}"
        else:
            target = f"QC sample {label.sample}"
        status = DESTROYED if label.destroyed_at else SUPERSEDED if label.id in gone else IN_FORCE
        views.append(
            PrintedLabelView(
                id=label.id,
                ref=f"L{label.id}",
                kind=label.kind,
                target=target,
                final=label.final,
                reprint=label.reprint,
                flags=label.flags,
                site_settings=f"site settings v{versions.get(label.site_settings_id, '?')}",
                content_hash=label.content_hash,
                document_hash=label.document_hash,
                printed_at=iso_utc(as_utc(label.printed_at)),
                printed_by=people.get(label.printed_by, "?"),
                status=status,
                superseded_by=gone.get(label.id),
                approved_by=approvals.get(label.id),
                applied_at=iso_utc(as_utc(label.applied_at)) if label.applied_at else None,
                applied_by=people.get(label.applied_by) if label.applied_by else None,
                destroyed_at=iso_utc(as_utc(label.destroyed_at)) if label.destroyed_at else None,
                destroyed_by=people.get(label.destroyed_by) if label.destroyed_by else None,
                destroy_reason=label.destroy_reason,
            )
        )
    return views


def label_view(session: Session, batch: Batch, label_id: int) -> PrintedLabelView:
    """One printed label of ``batch`` with its state now."""
    for view in label_views(session, batch):
        if view.id == label_id:
            return view
    raise NotFound(f"{batch.code} has no printed label L{label_id}")


def batch_kind(db: Database, code: str) -> str:
    """``dose`` (bag labels) or ``expansion`` (a bank: vial labels) for a batch code."""
    with db.session() as session:
        return find_batch(session, code).kind


@dataclass(frozen=True)
class LabelEventView(Plain):
    """One label event of a batch: a print, a reprint or a scan, by whom and when."""

    id: int
    action: str
    """``print``, ``reprint`` or ``scan``."""
    bag: int | None
    """The bag's number (a dose batch's bag label), else None."""
    final: bool
    copies: int
    ok: bool | None
    """A scan: whether it verified a label in force."""
    reason: str | None
    detail: dict[str, Any] | None
    """What the event recorded as stored (the barcodes printed, or the scan's report), for the
    electronic copy; the printed record does not read it."""
    at: str
    by: Person


@dataclass(frozen=True)
class LabelHistory(Plain):
    """Label reconciliation of a batch: counts, every label with its state, and each event."""

    printed: int
    reprinted: int
    final_printed: int
    quarantine_printed: int
    verified: int
    """Scans that verified a label."""
    failed_scans: int
    applied: int
    destroyed: int
    in_force: tuple[str, ...]
    """References of the labels in force (``L12``)."""
    to_destroy: tuple[str, ...]
    """References of the superseded labels not yet recorded destroyed."""
    labels: tuple[PrintedLabelView, ...]
    events: tuple[LabelEventView, ...]


def label_history(db: Database, code: str) -> LabelHistory:
    """Label reconciliation of a batch: counts, every label with its state, and each event."""
    with db.session() as session:
        batch = find_batch(session, code)
        rows = session.execute(
            select(LabelEvent, User, Bag)
            .join(User, User.id == LabelEvent.by)
            .outerjoin(Bag, Bag.id == LabelEvent.bag_id)
            .where(LabelEvent.batch_id == batch.id)
            .order_by(LabelEvent.id)
        ).all()
        events = tuple(
            LabelEventView(
                id=event.id,
                action=event.action,
                bag=bag.number if bag else None,
                final=event.final,
                copies=event.copies,
                ok=event.ok,
                reason=event.reason,
                detail=json.loads(event.detail) if event.detail else None,
                at=iso_utc(as_utc(event.at)),
                by=Person(user.username, user.full_name),
            )
            for event, user, bag in rows
        )
        labels = tuple(label_views(session, batch))
    prints = [e for e in events if e.action in ("print", "reprint")]
    scans = [e for e in events if e.action == "scan"]
    return LabelHistory(
        printed=sum(e.copies for e in prints if e.action == "print"),
        reprinted=sum(e.copies for e in prints if e.action == "reprint"),
        final_printed=sum(e.copies for e in prints if e.final),
        quarantine_printed=sum(e.copies for e in prints if not e.final),
        verified=sum(1 for e in scans if e.ok),
        failed_scans=sum(1 for e in scans if not e.ok),
        applied=sum(1 for v in labels if v.applied_at),
        destroyed=sum(1 for v in labels if v.status == DESTROYED),
        in_force=tuple(v.ref for v in labels if v.status == IN_FORCE),
        to_destroy=tuple(v.ref for v in labels if v.status == SUPERSEDED),
        labels=labels,
        events=events,
    )
