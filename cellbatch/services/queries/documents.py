"""Everything a batch record document needs, as one typed read model, and its JSON export.

The PDF (``cellbatch.documents.batch_record``) reads :class:`RecordData`'s attributes and the
JSON electronic copy is its ``to_dict()``, so the two copies of a record always hold the same
data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session

from cellbatch.db.database import Database
from cellbatch.db.tables import Batch
from cellbatch.domain.errors import RuleViolation
from cellbatch.services.audit_anchor import PrintedAnchor, printed_anchor
from cellbatch.services.batch_access import find_batch
from cellbatch.services.queries.audit import AuditRecord, list_entries
from cellbatch.services.queries.batch_view import batch_view
from cellbatch.services.queries.batch_view_model import BatchView
from cellbatch.services.queries.clinical_use import ClinicalUse, clinical_use
from cellbatch.services.queries.donors import DonorView, donor_view
from cellbatch.services.queries.labels import LabelHistory, label_history
from cellbatch.services.queries.plain import Plain
from cellbatch.services.queries.readable_audit import ReadableEntry, readable_trail
from cellbatch.services.queries.review import kept_checklist, release_checklist
from cellbatch.services.queries.review_model import Criterion
from cellbatch.services.queries.site_settings import current_site_settings
from cellbatch.services.queries.sops import sop_of

FORMAT = "cellbatch-batch-record/1"
"""Identifies the layout of the electronic copy."""


@dataclass(frozen=True)
class Facility(Plain):
    """The facility as the site settings in force name it."""

    name: str
    address: tuple[str, ...]
    fin: str | None
    example: bool
    timezone: str
    site_settings: str | None


@dataclass(frozen=True)
class RecordData(Plain):
    """The complete record of one batch, as the PDF and the electronic copy hold it."""

    format: str
    generated_at: str
    facility: Facility
    batch: BatchView
    donor: DonorView
    parameter_labels: dict[str, dict[str, str]]
    """The SOP's label of each step parameter, by step kind and parameter name."""
    release_checklist: tuple[Criterion, ...] | None
    """As it stood at the batch's release or rejection, else as it stands when printed."""
    release_checklist_decided_at: str | None
    """When the checklist shown stood: at the release or rejection; None while undecided."""
    labels: LabelHistory
    """Label reconciliation (:func:`cellbatch.services.queries.labels.label_history`)."""
    clinical_use: ClinicalUse
    """A dose's bag from its issue to the infusion (:mod:`.clinical_use`)."""
    audit_trail: tuple[AuditRecord, ...]
    audit_readable: tuple[ReadableEntry, ...]
    """The batch's audit entries in the record's words (the raw ones are ``audit_trail``)."""
    audit_anchor: PrintedAnchor
    """The audit trail's head the record was built from (:func:`.audit_anchor.printed_anchor`)."""


@dataclass(frozen=True)
class _BatchFacts:
    id: int
    labels: dict[str, dict[str, str]]
    checklist: tuple[Criterion, ...] | None
    checklist_decided_at: str | None
    clinical_use: ClinicalUse


def _batch_facts(db: Database, code: str) -> _BatchFacts:
    """The batch's id, SOP parameter labels, release checklist (below), its bag after release."""
    with db.session() as session:
        batch = find_batch(session, code)
        sop = sop_of(session, batch)
        checklist, decided_at = _checklist(session, batch)
        return _BatchFacts(
            id=batch.id,
            labels={step.kind: {p.name: p.label for p in step.parameters} for step in sop.steps},
            checklist=checklist,
            checklist_decided_at=decided_at,
            clinical_use=clinical_use(session, batch),
        )


def _checklist(session: Session, batch: Batch) -> tuple[tuple[Criterion, ...] | None, str | None]:
    """The release checklist the record shows, and when it stood.

    For a batch released or rejected: as it stood at that decision (None for a batch decided
    before cellbatch kept the checklist); for any other, as it stands now, with no time.
    """
    kept = kept_checklist(session, batch)
    if kept is None:
        return tuple(release_checklist(session, batch)), None
    return kept


def batch_audit_entries(db: Database, batch_id: int) -> list[AuditRecord]:
    """The audit entries of a batch's record, in order (:func:`~.audit.of_batch`)."""
    return list_entries(db, batch_id=batch_id)


def _readable(db: Database, code: str, entries: list[AuditRecord]) -> list[ReadableEntry]:
    """The batch's audit entries in the record's words (the raw ones stay in the export)."""
    with db.session() as session:
        return readable_trail(session, entries, sop_of(session, find_batch(session, code)))


def _facility(db: Database) -> Facility:
    """The facility as the site settings in force name it (a record prints even before any)."""
    try:
        view = current_site_settings(db)
    except RuleViolation:
        return Facility(
            name="facility not named: no site settings approved in cellbatch",
            address=(),
            fin=None,
            example=False,
            timezone="UTC",
            site_settings=None,
        )
    site = view.settings
    return Facility(
        name=site.facility_name,
        address=tuple(site.facility_address),
        fin=site.fin,
        example=site.example,
        timezone=site.timezone,
        site_settings=view.label,
    )


def record_data(db: Database, code: str, *, now: datetime | None = None) -> RecordData:
    """The complete record of one batch: read model, audit trail, labels, site, time printed.

    Also the donor with its marker results, the SOP's labels of the step parameters and,
    for a batch not released, the release checklist as it stands when printed. Everything
    is read from one snapshot of the database, so a write made meanwhile by another terminal
    is either wholly in the document or wholly not.
    """
    with db.snapshot() as snapshot:
        return _record_data(snapshot, code, now)


def _record_data(db: Database, code: str, now: datetime | None) -> RecordData:
    view = batch_view(db, code)
    facts = _batch_facts(db, code)
    entries = batch_audit_entries(db, facts.id)
    return RecordData(
        format=FORMAT,
        generated_at=(now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        facility=_facility(db),
        batch=view,
        donor=donor_view(db, view.donor.code),
        parameter_labels=facts.labels,
        release_checklist=facts.checklist,
        release_checklist_decided_at=facts.checklist_decided_at,
        labels=label_history(db, code),
        clinical_use=facts.clinical_use,
        audit_trail=tuple(entries),
        audit_readable=tuple(_readable(db, code, entries)),
        audit_anchor=printed_anchor(db),
    )


def export_json(db: Database, code: str, *, now: datetime | None = None) -> bytes:
    """The complete electronic copy of a batch record, as UTF-8 JSON."""
    data = record_data(db, code, now=now).to_dict()
    return (json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n").encode("utf-8")
