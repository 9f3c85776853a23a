"""Part 11 electronic signatures: who signed what, when, meaning what, and is it still valid.

A signature stores the SHA-256 of the canonical content of exactly what was signed: a
step entry with its material uses, a QC result, a deviation, or the batch record as a
whole. Validity is recomputed on every reading: if the record changed after signing,
the signature shows as invalid ("signed content changed") until someone signs again.
Because the record's own id is part of its content, a signature cannot be moved to
another record. Signing re-authenticates with user ID and password every time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from cellbatch.db.audit_chain import dumps, row_content, sha256
from cellbatch.db.database import Database
from cellbatch.db.tables import (
    AuditEntry,
    Bag,
    Batch,
    Correction,
    Deviation,
    HeldBatch,
    MaterialUse,
    PrintedLabel,
    QcResult,
    Signature,
    StepEntry,
    User,
    Vial,
)
from cellbatch.domain.errors import InvalidInput, NotFound
from cellbatch.domain.refs import record_number
from cellbatch.domain.timeparse import as_utc, iso_utc
from cellbatch.services.batch_access import find_batch

ENTITY_PREFIX = {"step_entry": "E", "qc_result": "Q", "deviation": "D", "printed_label": "L"}
"""How a signed record is named on screen and paper: E12, Q5, D3 (or ``batch``)."""

SHOWN_ONLY_PREFIX = {"held_batch": "HB"}
"""Signed records named on screen but never signed by name (QA's lift of a hold: HB4)."""

SIGNED_MODELS = {
    "step_entry": StepEntry,
    "qc_result": QcResult,
    "deviation": Deviation,
    "held_batch": HeldBatch,
}
"""The tables whose rows a signature can cover, besides the batch record as a whole."""

CONTENT_CHANGED = "signed content changed"
"""Why a signature is invalid when its record no longer hashes to what was signed."""

CORRECTED_SINCE = "corrected after it was signed"
"""Why a signature stays invalid once its record was corrected, even back to what was signed."""


@dataclass(frozen=True)
class SignatureView:
    """A signature as shown: printed name, UTC time, meaning, and whether still valid."""

    id: int
    on: str
    meaning: str
    username: str
    full_name: str
    signed_at: str
    valid: bool
    reason_invalid: str | None
    superseded: bool
    audit_entry: str | None = None
    """The audit entry that records the signature, ``#seq`` and its seal's first 16 hex
    digits: for a QA decision, the anchor written to the anchor log (docs/trust-model.md)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON output."""
        return asdict(self)


def ref_of(entity: str, entity_id: int) -> str:
    """The on-screen name of a signed record (``E12``, ``Q5``, ``D3`` or ``batch``)."""
    if entity == "batch":
        return "batch"
    prefix = ENTITY_PREFIX.get(entity) or SHOWN_ONLY_PREFIX.get(entity, entity + ":")
    return f"{prefix}{entity_id}"


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``E12``, ``Q5``, ``D3`` or ``batch`` as (entity, id); the batch's id is filled later."""
    text = ref.strip().upper()
    if text == "BATCH":
        return "batch", None
    by_prefix = {  # a printed label (L) is signed only when its reprint is approved
        prefix: entity for entity, prefix in ENTITY_PREFIX.items() if entity != "printed_label"
    }
    found = record_number(text, tuple(by_prefix), "record")
    if found is not None:
        return by_prefix[found[0]], found[1]
    raise InvalidInput(
        "ENTRY-ID",
        "expected E<number> (step), Q<number> (QC result), D<number> (deviation) or "
        f"'batch', got {ref.strip()[:20]!r}",
    )


def _rows(session: Session, model, *where, order=None) -> list:
    query = select(model).where(*where).order_by(order if order is not None else model.id)
    return list(session.execute(query).scalars())


def _step_content(session: Session, entry: StepEntry) -> dict[str, Any]:
    uses = _rows(session, MaterialUse, MaterialUse.step_entry_id == entry.id)
    return {**row_content(entry), "materials": [row_content(u) for u in uses]}


def batch_content(session: Session, batch: Batch) -> dict[str, Any]:
    """The canonical content of a whole batch record, as a batch-level signature covers it.

    The status is left out (the decision being signed changes it), and so is the thaw
    mark of a bank's vials (a released bank's vials are thawed later by dose batches).
    """
    head = row_content(batch)
    head.pop("status", None)
    vials = []
    for vial in _rows(session, Vial, Vial.batch_id == batch.id):
        content = row_content(vial)
        content.pop("thaw_entry_id", None)
        vials.append(content)
    return {
        "batch": head,
        "steps": [
            _step_content(session, e)
            for e in _rows(session, StepEntry, StepEntry.batch_id == batch.id)
        ],
        "qc": [row_content(q) for q in _rows(session, QcResult, QcResult.batch_id == batch.id)],
        "corrections": [
            row_content(c) for c in _rows(session, Correction, Correction.batch_id == batch.id)
        ],
        "deviations": [
            row_content(d) for d in _rows(session, Deviation, Deviation.batch_id == batch.id)
        ],
        "vials": vials,
        "bags": [row_content(b) for b in _rows(session, Bag, Bag.batch_id == batch.id)],
    }


def signed_content(
    session: Session, batch: Batch, entity: str, entity_id: int
) -> dict[str, Any] | None:
    """The canonical content a signature on this record covers; None if it is not there."""
    if entity == "batch":
        return batch_content(session, batch) if entity_id == batch.id else None
    if entity == "printed_label":
        label = session.get(PrintedLabel, entity_id)
        if label is None or label.batch_id != batch.id:
            return None
        return printed_label_content(label)
    model = SIGNED_MODELS.get(entity)
    if model is None:
        return None
    row = session.get(model, entity_id)
    if row is None or row.batch_id != batch.id:
        return None
    if entity == "step_entry":
        return _step_content(session, row)
    return row_content(row)


PRINTED_LABEL_SIGNED = (
    "id", "batch_id", "print_event_id", "bag_id", "vial_id", "sample", "kind", "final",
    "reprint", "flags", "site_settings_id", "content_hash", "document_hash", "printed_at",
    "printed_by",
)  # fmt: skip
"""What a signature on a printed label covers: the label as printed, not its later fate."""


def printed_label_content(label: PrintedLabel) -> dict[str, Any]:
    """The canonical content of a printed label as printed (applied/destroyed left out)."""
    content = row_content(label)
    return {name: content[name] for name in PRINTED_LABEL_SIGNED}


def content_hash(session: Session, batch: Batch, entity: str, entity_id: int) -> str:
    """SHA-256 of the canonical content of a record of ``batch``; NotFound if absent."""
    content = signed_content(session, batch, entity, entity_id)
    if content is None:
        raise NotFound(f"batch {batch.code} has no {ref_of(entity, entity_id)}")
    return sha256(dumps(content))


def entry_authors(session: Session, batch: Batch, entity: str, entity_id: int) -> set[int]:
    """Who put an entry's values there: the person who recorded it and everyone who corrected it."""
    model = StepEntry if entity == "step_entry" else QcResult
    row = session.get(model, entity_id)
    if row is None or row.batch_id != batch.id:
        raise NotFound(f"batch {batch.code} has no entry {ref_of(entity, entity_id)}")
    correctors = session.execute(
        select(Correction.corrected_by).where(
            Correction.batch_id == batch.id,
            Correction.entity == entity,
            Correction.entity_id == entity_id,
        )
    ).scalars()
    return {row.recorded_by, *correctors}


def signature_views(session: Session, batch: Batch) -> list[SignatureView]:
    """Every signature on a batch's records, each with its validity recomputed now."""
    sigs = _rows(session, Signature, Signature.batch_id == batch.id)
    people = {}
    ids = {s.signer_id for s in sigs}
    if ids:
        people = {u.id: u.username for u in _rows(session, User, User.id.in_(ids))}
    hashes: dict[tuple[str, int], str | None] = {}
    latest: dict[tuple[str, int, str], int] = {}
    for s in sigs:
        latest[(s.entity, s.entity_id, s.meaning)] = s.id
    corrections = _rows(session, Correction, Correction.batch_id == batch.id)
    entries = {}
    if sigs:
        entries = {
            int(entity_id): f"#{seq} {seal[:16]}"
            for entity_id, seq, seal in session.execute(
                select(AuditEntry.entity_id, AuditEntry.seq, AuditEntry.hash).where(
                    AuditEntry.entity == "signature",
                    AuditEntry.action == "create",
                    AuditEntry.entity_id.in_([str(s.id) for s in sigs]),
                )
            )
        }
    views = []
    for s in sigs:
        key = (s.entity, s.entity_id)
        if key not in hashes:
            content = signed_content(session, batch, s.entity, s.entity_id)
            hashes[key] = None if content is None else sha256(dumps(content))
        now = hashes[key]
        if now is None:
            reason = "signed record not found in this batch"
        elif now != s.content_hash:
            reason = CONTENT_CHANGED
        elif any(
            as_utc(c.corrected_at) > as_utc(s.signed_at)
            and (s.entity == "batch" or (c.entity, c.entity_id) == key)
            for c in corrections
        ):
            reason = CORRECTED_SINCE
        else:
            reason = None
        views.append(
            SignatureView(
                id=s.id,
                on=ref_of(s.entity, s.entity_id),
                meaning=s.meaning,
                username=people.get(s.signer_id, "?"),
                full_name=s.signer_name,
                signed_at=iso_utc(s.signed_at),
                valid=reason is None,
                reason_invalid=reason,
                superseded=latest[(s.entity, s.entity_id, s.meaning)] != s.id,
                audit_entry=entries.get(s.id),
            )
        )
    return views


def batch_signatures(db: Database, code: str) -> list[SignatureView]:
    """Every signature on a batch, with validity (for ``batch show`` and review)."""
    with db.session() as session:
        return signature_views(session, find_batch(session, code))
