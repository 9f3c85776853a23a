"""Everything a batch record document needs, gathered as plain data, and its JSON export.

The PDF (``cellbatch.documents.batch_record``) and the JSON electronic copy are built
from the same read model, so the two copies of a record always hold the same data.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from cellbatch.db.database import Database
from cellbatch.db.tables import Batch, ReleaseChecklist, ReleaseDecision
from cellbatch.domain.errors import RuleViolation
from cellbatch.domain.timeparse import iso_utc
from cellbatch.services.audit_anchor import printed_anchor
from cellbatch.services.batch_access import find_batch
from cellbatch.services.queries.audit import AuditRecord, list_entries
from cellbatch.services.queries.batch_view import batch_view
from cellbatch.services.queries.donors import donor_view
from cellbatch.services.queries.labels import label_history
from cellbatch.services.queries.readable_audit import ReadableEntry, readable_trail
from cellbatch.services.queries.review import release_checklist
from cellbatch.services.queries.site_settings import current_site_settings
from cellbatch.services.queries.sops import sop_of

FORMAT = "cellbatch-batch-record/1"
"""Identifies the layout of the electronic copy."""


def _batch_facts(db: Database, code: str) -> dict[str, Any]:
    """The batch's id, its SOP's parameter labels and its release checklist (see below)."""
    with db.session() as session:
        batch = find_batch(session, code)
        sop = sop_of(session, batch)
        return {
            "id": batch.id,
            "labels": {step.kind: {p.name: p.label for p in step.parameters} for step in sop.steps},
            **_checklist(session, batch),
        }


def _checklist(session: Session, batch: Batch) -> dict[str, Any]:
    """The release checklist the record shows, and when it stood.

    For a batch released or rejected: as it stood at that decision; for any other, as it
    stands now. ``checklist`` is None for a batch decided before cellbatch kept the checklist;
    ``checklist_decided_at`` still says when it was decided.
    """
    row = None
    if batch.status in ("released", "rejected"):
        row = session.execute(
            select(ReleaseDecision, ReleaseChecklist)
            .outerjoin(ReleaseChecklist, ReleaseChecklist.release_decision_id == ReleaseDecision.id)
            .where(
                ReleaseDecision.batch_id == batch.id,
                ReleaseDecision.decision.in_(("release", "reject")),
            )
            .order_by(ReleaseDecision.id.desc())
            .limit(1)
        ).first()
    if row is None:
        criteria = [c.to_dict() for c in release_checklist(session, batch)]
        return {"checklist": criteria, "checklist_decided_at": None}
    decided, kept = row
    return {
        "checklist": kept.criteria if kept is not None else None,
        "checklist_decided_at": iso_utc(decided.decided_at),
    }


def batch_audit_entries(db: Database, batch_id: int) -> list[AuditRecord]:
    """The audit entries of a batch's record, in order (:func:`~.audit.of_batch`)."""
    return list_entries(db, batch_id=batch_id)


def _readable(db: Database, code: str, entries: list[AuditRecord]) -> list[ReadableEntry]:
    """The batch's audit entries in the record's words (the raw ones stay in the export)."""
    with db.session() as session:
        return readable_trail(session, entries, sop_of(session, find_batch(session, code)))


def _facility(db: Database) -> dict[str, Any]:
    """The facility as the site settings in force name it (a record prints even before any)."""
    try:
        view = current_site_settings(db)
    except RuleViolation:
        return {
            "name": "facility not named: no site settings approved in cellbatch",
            "address": [],
            "fin": None,
            "example": False,
            "timezone": "UTC",
            "site_settings": None,
        }
    site = view.settings
    return {
        "name": site.facility_name,
        "address": list(site.facility_address),
        "fin": site.fin,
        "example": site.example,
        "timezone": site.timezone,
        "site_settings": view.label,
    }


def record_data(db: Database, code: str, *, now: datetime | None = None) -> dict[str, Any]:
    """The complete record of one batch: read model, audit trail, labels, site, time printed.

    Also the donor with its marker results, the SOP's labels of the step parameters and,
    for a batch not released, the release checklist as it stands when printed. Everything
    is read from one snapshot of the database, so a write made meanwhile by another terminal
    is either wholly in the document or wholly not.
    """
    with db.snapshot() as snapshot:
        return _record_data(snapshot, code, now)


def _record_data(db: Database, code: str, now: datetime | None) -> dict[str, Any]:
    view = batch_view(db, code)
    facts = _batch_facts(db, code)
    entries = batch_audit_entries(db, facts["id"])
    data: dict[str, Any] = {
        "format": FORMAT,
        "generated_at": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "facility": _facility(db),
        "batch": view,
        "donor": donor_view(db, view["donor"]["code"]).to_dict(),
        "parameter_labels": facts["labels"],
        "release_checklist": facts["checklist"],
        "release_checklist_decided_at": facts["checklist_decided_at"],
        "labels": label_history(db, code),
        "audit_trail": [e.to_dict() for e in entries],
        "audit_readable": [e.to_dict() for e in _readable(db, code, entries)],
        "audit_anchor": printed_anchor(db),
    }
    return data


def export_json(db: Database, code: str, *, now: datetime | None = None) -> bytes:
    """The complete electronic copy of a batch record, as UTF-8 JSON."""
    data = record_data(db, code, now=now)
    return (json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n").encode("utf-8")
