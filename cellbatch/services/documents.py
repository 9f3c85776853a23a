"""Everything a batch record document needs, gathered as plain data, and its JSON export.

The PDF (``cellbatch.documents.batch_record``) and the JSON electronic copy are built
from the same read model, so the two copies of a record always hold the same data.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from cellbatch.db.database import Database
from cellbatch.services.audit import list_entries
from cellbatch.services.batch_access import find_batch
from cellbatch.services.batch_view import batch_view
from cellbatch.services.labels import label_history
from cellbatch.site import load_site_settings

FORMAT = "cellbatch-batch-record/1"
"""Identifies the layout of the electronic copy."""


def _batch_id(db: Database, code: str) -> int:
    with db.session() as session:
        return find_batch(session, code).id


def record_data(db: Database, code: str, *, now: datetime | None = None) -> dict[str, Any]:
    """The complete record of one batch: read model, audit trail, labels, site, time printed."""
    view = batch_view(db, code)
    batch_id = _batch_id(db, code)
    entries = {e.seq: e for e in list_entries(db, batch_id=batch_id)}
    for entry in list_entries(db, entity="batch", entity_id=str(batch_id)):
        entries.setdefault(entry.seq, entry)
    audit = [entries[seq].to_dict() for seq in sorted(entries)]
    site = load_site_settings()
    data: dict[str, Any] = {
        "format": FORMAT,
        "generated_at": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "facility": {
            "name": site.facility_name,
            "address": list(site.facility_address),
            "fin": site.fin,
            "example": site.example,
            "timezone": site.timezone,
        },
        "batch": view,
        "labels": label_history(db, code) if view["kind"] == "dose" else None,
        "audit_trail": audit,
    }
    return data


def export_json(db: Database, code: str, *, now: datetime | None = None) -> bytes:
    """The complete electronic copy of a batch record, as UTF-8 JSON."""
    data = record_data(db, code, now=now)
    return (json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n").encode("utf-8")
