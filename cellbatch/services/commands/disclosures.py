"""Records that leave the system: who printed, exported or was shown what (GMP-27).

Printing a batch record, exporting its electronic copy and showing the audit trail each write
an audit entry naming the person, the batch, the file and the document's SHA-256, so an
inspector can tell every copy in circulation from the trail. The entry is committed before
the file gets its name: a crash in between leaves a recorded print without a file (harmless),
never a file nobody knows was printed.

A database that nothing can write, an SQLite file on read-only media (an archived copy), is
still read, and the person is told the print was not recorded: anyone who can put a file on
such media can read it directly anyway. A PostgreSQL server that refuses writes (a standby, or
read-only mode) refuses the print: that state can be set per session, so it must not open a
way to print without a trace.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cellbatch.db.database import Database
from cellbatch.db.failures import DatabaseReadOnly
from cellbatch.domain.users import Actor
from cellbatch.services.batch_access import find_batch
from cellbatch.services.output_files import OutputFile
from cellbatch.services.queries.audit import AuditRecord, list_entries
from cellbatch.services.queries.batches import batch_id_of
from cellbatch.services.unit_of_work import UnitOfWork

NOT_RECORDED = (
    "not recorded in the audit trail: the database is a read-only copy "
    "(read-only media or file), which nothing can write"
)
"""What the person is told when a read-only copy could not record what they took from it."""


@dataclass(frozen=True)
class DocumentWritten:
    """A document written to disk: where, its hash, and whether its writing is on record."""

    path: Path
    sha256: str
    size: int
    recorded: bool


def _record(
    db: Database, actor: Actor, action: str, batch_code: str | None, detail: dict[str, Any]
) -> bool:
    """One audit entry for what ``actor`` took out of the system; False on a read-only copy."""
    try:
        with UnitOfWork(db, actor) as uow:
            batch = find_batch(uow.session, batch_code) if batch_code else None
            uow.audit(
                action,
                None,
                entity="batch" if batch else "audit_entry",
                entity_id=str(batch.id) if batch else "",
                batch_id=batch.id if batch else None,
                new_value=json.dumps(detail, ensure_ascii=False, sort_keys=True),
            )
            uow.commit()
            return True
    except DatabaseReadOnly:
        if db.backend == "sqlite" and db.read_only_media:
            return False
        raise


def write_document(
    db: Database,
    actor: Actor,
    out: OutputFile,
    data: bytes,
    *,
    action: str,
    batch_code: str,
    document: str,
) -> DocumentWritten:
    """Write ``data`` through ``out`` and record who wrote which document of which batch.

    ``action`` is the audit entry's action (``print`` or ``export``), ``document`` what it
    is (``batch record (PDF)``). The entry is committed first, then the file takes its name.
    """
    digest = hashlib.sha256(data).hexdigest()
    with out:
        out.write(data)
        recorded = _record(
            db,
            actor,
            action,
            batch_code,
            {
                "document": document,
                "file": str(out.path.absolute()),
                "sha256": digest,
                "bytes": len(data),
            },
        )
        out.publish()
    return DocumentWritten(out.path, digest, len(data), recorded)


def show_audit_trail(
    db: Database,
    actor: Actor,
    *,
    batch_code: str | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> tuple[list[AuditRecord], bool]:
    """The audit entries ``actor`` asked to see, and whether their showing is on record.

    The entries are read first (the list does not show its own entry), then the showing is
    recorded; nothing is shown if it cannot be (except from a read-only copy, see above).
    """
    batch_id = batch_id_of(db, batch_code) if batch_code is not None else None
    entries = list_entries(db, batch_id=batch_id, offset=offset, limit=limit)
    recorded = _record(
        db,
        actor,
        "view",
        batch_code,
        {
            "shown": "audit trail",
            "batch": batch_code.strip().upper() if batch_code else None,
            "offset": offset,
            "limit": limit,
            "entries": [entries[0].seq, entries[-1].seq] if entries else [],
        },
    )
    return entries, recorded
