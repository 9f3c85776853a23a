"""Everything a batch's 30-year archive holds, read from one snapshot (GMP-33).

The batch record's read model (the same data the PDF and the JSON copy are made of), the
batch's audit entries with their hashes, the chain from the batch's first entry to the
trail's head, the SOP versions the batch and its ancestors were made under, and the content
of every label printed for it, rebuilt from the records under the site settings version it
was pinned to and compared with the content hash recorded when it was printed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlmodel import Session

from cellbatch.db.audit_chain import ENTRY_FIELDS, canonical_value
from cellbatch.db.audit_chain_anchors import read_anchors
from cellbatch.db.database import Database
from cellbatch.db.schema_head import SCHEMA_HEAD
from cellbatch.db.tables import (
    AuditEntry,
    AuditHead,
    Bag,
    Batch,
    LabelEvent,
    PrintedLabel,
    SopVersion,
    User,
    Vial,
)
from cellbatch.domain.timeparse import iso_utc
from cellbatch.services.batch_access import find_batch
from cellbatch.services.queries.documents import (
    RecordData,
    _batch_facts,
    batch_audit_entries,
    record_data,
)
from cellbatch.services.queries.label_content import BagLabel, bag_label
from cellbatch.services.queries.site_settings import site_settings_version
from cellbatch.services.queries.sops import sop_of
from cellbatch.services.queries.vial_label_content import VialLabel, qc_samples, small_label


@dataclass(frozen=True)
class ArchiveFile:
    """One file of an archive: where in the folder, its bytes, and what it is (for the manifest)."""

    path: str
    data: bytes
    what: str


@dataclass(frozen=True)
class ArchivedLabel:
    """One printed label: what the print recorded, and its content rebuilt from the records."""

    ref: str
    kind: str
    printed_at: str
    recorded_content_hash: str
    recorded_document_hash: str
    content: BagLabel | VialLabel
    """The label's content, rebuilt; ``content.content_hash()`` is compared with the record."""

    @property
    def matches(self) -> bool:
        """Whether the rebuilt label carries exactly what the printed one did."""
        return self.content.content_hash() == self.recorded_content_hash


@dataclass(frozen=True)
class ArchivedSop:
    """One procedure version the batch (or a batch it came from) was made under."""

    sop_id: str
    version: str
    content_hash: str
    content: dict[str, Any]


@dataclass(frozen=True)
class ArchiveContent:
    """What goes into the archive of one batch, all as of one moment."""

    batch: str
    status: str
    made_at: str
    schema_revision: str
    record: RecordData
    entries: list[dict[str, Any]]
    """The batch's audit entries: every hashed field, canonical, with ``hash``."""
    chain: list[tuple[int, str, str]]
    """Entry number, previous hash and hash, from the batch's first entry to the head."""
    head_seq: int
    head_hash: str
    sops: list[ArchivedSop]
    labels: list[ArchivedLabel]
    anchor: dict[str, Any] | None = None
    """The newest anchor (outside the database) the chain passes through, if any."""

    def export_json(self) -> bytes:
        """The electronic copy, as ``cellbatch export`` writes it."""
        text = json.dumps(self.record.to_dict(), indent=2, ensure_ascii=False, default=str)
        return (text + "\n").encode("utf-8")


def _entry(row: AuditEntry) -> dict[str, Any]:
    content = {name: canonical_value(getattr(row, name)) for name in ENTRY_FIELDS}
    content["hash"] = row.hash
    return content


def _sops(session: Session, batch: Batch) -> list[ArchivedSop]:
    found: list[ArchivedSop] = []
    current: Batch | None = batch
    while current is not None:
        row = session.get(SopVersion, current.sop_version_id)
        if row is not None and all(s.content_hash != row.content_hash for s in found):
            found.append(ArchivedSop(row.sop_id, row.version, row.content_hash, row.content))
        parent = current.parent_batch_id
        current = session.get(Batch, parent) if parent else None
    return found


def _labels(session: Session, batch: Batch) -> list[ArchivedLabel]:
    printed = list(
        session.execute(
            select(PrintedLabel).where(PrintedLabel.batch_id == batch.id).order_by(PrintedLabel.id)
        ).scalars()
    )
    if not printed:
        return []
    people = {u.id: u.username for u in session.execute(select(User)).scalars()}
    tests = None
    vial_count = None
    out = []
    for label in printed:
        event = session.get(LabelEvent, label.print_event_id)
        view = site_settings_version(session, label.site_settings_id)
        common = {
            "reprint": label.reprint,
            "printed_by": people.get(label.printed_by, "?"),
            "printed_at": iso_utc(label.printed_at) or "",
            "reason": event.reason if event else None,
        }
        content: BagLabel | VialLabel
        if label.kind == "bag":
            content = bag_label(
                session, batch, session.get(Bag, label.bag_id), view,
                final=label.final, flags=label.flags, content_version=label.content_version,
                **common,
            )  # fmt: skip
        else:
            if tests is None:
                tests = qc_samples(list(sop_of(session, batch).qc))
                vial_count = len(
                    list(session.execute(select(Vial.id).where(Vial.batch_id == batch.id)))
                )
            if label.kind == "vial":
                vial, sample, count = session.get(Vial, label.vial_id), None, vial_count
            else:
                number = next(n for n, t in enumerate(tests, 1) if t.key == label.sample)
                vial, sample, count = None, (number, tests[number - 1]), len(tests)
            content = small_label(
                session, batch, view, vial=vial, sample=sample, count=count or 0, **common
            )
        out.append(
            ArchivedLabel(
                ref=f"L{label.id}",
                kind=label.kind,
                printed_at=common["printed_at"],
                recorded_content_hash=label.content_hash,
                recorded_document_hash=label.document_hash,
                content=content,
            )
        )
    return out


def archive_content(db: Database, code: str) -> ArchiveContent:
    """Everything the archive of batch ``code`` holds, read from one snapshot."""
    now = datetime.now(UTC)
    log = read_anchors(db.anchor_log)  # before the snapshot: each anchor names a held entry
    with db.snapshot() as snapshot:
        record = record_data(snapshot, code, now=now)
        facts = _batch_facts(snapshot, code)
        seqs = [e.seq for e in batch_audit_entries(snapshot, facts.id)]
        with snapshot.session() as session:
            batch = find_batch(session, code)
            head = session.get(AuditHead, 1)
            first = seqs[0] if seqs else head.seq
            query = select(AuditEntry).where(AuditEntry.seq.in_(seqs))
            rows = {r.seq: r for r in session.execute(query).scalars()} if seqs else {}
            chain = [
                (seq, prev, this)
                for seq, prev, this in session.execute(
                    select(AuditEntry.seq, AuditEntry.prev_hash, AuditEntry.hash)
                    .where(AuditEntry.seq >= first)
                    .order_by(AuditEntry.seq)
                ).all()
            ]
            chain_id = session.execute(
                text("SELECT chain_id FROM audit_seal WHERE id = 1")
            ).scalar_one()
            held = [
                a for a in log.anchors
                if a.chain_id == chain_id and first <= a.seq <= head.seq
            ]  # fmt: skip
            last = max(held, key=lambda a: (a.seq, a.line), default=None)
            return ArchiveContent(
                batch=batch.code,
                status=batch.status,
                made_at=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                schema_revision=SCHEMA_HEAD,
                record=record,
                entries=[_entry(rows[s]) for s in seqs],
                chain=chain,
                head_seq=head.seq,
                head_hash=head.hash,
                sops=_sops(session, batch),
                labels=_labels(session, batch),
                anchor=None
                if last is None
                else {
                    "seq": last.seq,
                    "hash": last.hash,
                    "at": last.shown,
                    "kind": last.kind,
                    "anchor_log_line": last.line,
                },
            )
