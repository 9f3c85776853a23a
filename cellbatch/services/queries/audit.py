"""Reading the audit trail (proving it: :mod:`cellbatch.services.queries.audit_verify`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC
from typing import Any

from sqlalchemy import String, and_, cast, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from cellbatch.db.database import Database
from cellbatch.db.tables import AuditEntry, Vial
from cellbatch.domain.refs import count_option
from cellbatch.services.queries.audit_verify import VerifyReport, verify_trail

__all__ = [
    "AuditRecord",
    "VerifyReport",
    "count_entries",
    "list_entries",
    "of_batch",
    "verify_trail",
]


@dataclass(frozen=True)
class AuditRecord:
    """One audit entry as shown to a reviewer."""

    seq: int
    at: str
    username: str
    action: str
    entity: str
    entity_id: str
    batch_id: int | None
    field: str | None
    old_value: str | None
    new_value: str | None
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON output."""
        return asdict(self)


def _record(entry: AuditEntry) -> AuditRecord:
    return AuditRecord(
        seq=entry.seq,
        at=entry.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        username=entry.username,
        action=entry.action,
        entity=entry.entity,
        entity_id=entry.entity_id,
        batch_id=entry.batch_id,
        field=entry.field,
        old_value=entry.old_value,
        new_value=entry.new_value,
        reason=entry.reason,
    )


def of_batch(batch_id: int) -> ColumnElement[bool]:
    """The entries of a batch's trail, as ``audit show --batch`` and the record list them.

    Those filed under it, the creation of the batch itself (written before the batch had an
    id to file it under) and every entry about one of its vials, even one another batch's
    transaction wrote (a dose batch's thaw marks the bank's vials).
    """
    vials = select(cast(Vial.id, String)).where(Vial.batch_id == batch_id)
    return or_(
        AuditEntry.batch_id == batch_id,
        and_(AuditEntry.entity == "batch", AuditEntry.entity_id == str(batch_id)),
        and_(AuditEntry.entity == "vial", AuditEntry.entity_id.in_(vials)),
    )


def list_entries(
    db: Database,
    *,
    batch_id: int | None = None,
    entity: str | None = None,
    entity_id: str | None = None,
    entity_ids: list[str] | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> list[AuditRecord]:
    """Audit entries in order, optionally only one batch's or some records', paged."""
    offset = count_option(offset, "--offset")
    limit = count_option(limit, "--limit")
    with db.session() as session:
        query = select(AuditEntry).order_by(AuditEntry.seq)
        if batch_id is not None:
            query = query.where(of_batch(batch_id))
        if entity is not None:
            query = query.where(AuditEntry.entity == entity)
        if entity_id is not None:
            query = query.where(AuditEntry.entity_id == entity_id)
        if entity_ids is not None:
            query = query.where(AuditEntry.entity_id.in_(entity_ids))
        query = query.offset(offset)
        if limit is not None:
            query = query.limit(limit)
        return [_record(e) for e in session.execute(query).scalars()]


def count_entries(db: Database, *, batch_id: int | None = None) -> int:
    """How many audit entries there are (for one batch, if given)."""
    with db.session() as session:
        query = select(func.count()).select_from(AuditEntry)
        if batch_id is not None:
            query = query.where(of_batch(batch_id))
        return session.execute(query).scalar_one()
