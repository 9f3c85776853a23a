"""Reading and verifying the audit trail.

``verify_trail`` proves the trail intact, or names the first place where a row or an
audit entry was edited, inserted or removed behind the program's back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from cellbatch.db.audit_chain import GENESIS_HASH, entry_hash, row_hash
from cellbatch.db.database import Database
from cellbatch.db.failures import DatabaseDamaged, database_problem
from cellbatch.db.tables import AUDITED_TABLES, AuditEntry, AuditHead
from cellbatch.domain.refs import count_option
from cellbatch.domain.timeparse import as_utc


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


@dataclass
class VerifyReport:
    """Outcome of checking the whole chain and every audited row against it."""

    entries_checked: int = 0
    rows_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing was found wrong."""
        return not self.problems


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
            query = query.where(AuditEntry.batch_id == batch_id)
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
            query = query.where(AuditEntry.batch_id == batch_id)
        return session.execute(query).scalar_one()


def verify_trail(db: Database) -> VerifyReport:
    """Check the chain link by link, then every audited row against its last entry.

    A damaged database file is reported as a problem (the trail cannot be proved), not raised.
    """
    report = VerifyReport()
    try:
        _verify(db, report)
    except DBAPIError as exc:
        problem = database_problem(exc)
        if not isinstance(problem, DatabaseDamaged):
            raise problem from exc
        report.problems.append(f"{problem} (checked {report.entries_checked} entries before)")
    return report


def _verify(db: Database, report: VerifyReport) -> None:
    latest: dict[tuple[str, str], tuple[int, str]] = {}
    expected_seq = 1
    prev = GENESIS_HASH
    prev_at: datetime | None = None
    with db.session() as session:
        entries = session.execute(
            select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=2000)
        ).scalars()
        for entry in entries:
            report.entries_checked += 1
            values = {name: getattr(entry, name) for name in AuditEntry.model_fields}
            if entry.seq != expected_seq:
                if entry.seq > expected_seq:
                    report.problems.append(
                        f"audit entry #{expected_seq} is missing (removed from the database); "
                        f"the chain jumps to #{entry.seq}"
                    )
                else:
                    report.problems.append(f"audit entry #{entry.seq} appears out of order")
                expected_seq = entry.seq
            if entry.prev_hash != prev:
                report.problems.append(
                    f"audit entry #{entry.seq} does not follow the entry before it "
                    "(an entry was inserted, removed or edited)"
                )
            if entry_hash(values) != entry.hash:
                report.problems.append(
                    f"audit entry #{entry.seq} was edited outside the program "
                    f"({entry.action} {entry.entity} {entry.entity_id})"
                )
            at = as_utc(entry.at)
            if prev_at is not None and at < prev_at:
                report.problems.append(
                    f"audit entry #{entry.seq} is timed {at:%Y-%m-%d %H:%M:%S.%f} UTC, "
                    f"{(prev_at - at).total_seconds():.3f} s before the entry it follows: "
                    "the trail's times must never go back (a clock set back, or a write "
                    "that read the time before it held the write lock)"
                )
            prev_at = max(at, prev_at) if prev_at is not None else at
            if entry.row_hash is not None:
                latest[(entry.entity, entry.entity_id)] = (entry.seq, entry.row_hash)
            prev = entry.hash
            expected_seq += 1
        head = session.get(AuditHead, 1)
        if head is None or head.seq != expected_seq - 1 or head.hash != prev:
            report.problems.append(
                "the end of the audit trail does not match its recorded head "
                f"(head says #{head.seq if head else '?'}, trail ends at #{expected_seq - 1}): "
                "entries were removed or added at the end"
            )
        for name, model in AUDITED_TABLES.items():
            for row in session.execute(select(model).execution_options(yield_per=2000)).scalars():
                report.rows_checked += 1
                key = (name, str(row.id))
                last = latest.pop(key, None)
                if last is None:
                    report.problems.append(
                        f"{name} {row.id} has no audit entry: inserted outside the program"
                    )
                elif last[1] != row_hash(row):
                    report.problems.append(
                        f"{name} {row.id} was edited outside the program "
                        f"(it no longer matches audit entry #{last[0]})"
                    )
        for (name, row_id), (seq, _hash) in sorted(latest.items(), key=lambda kv: kv[1][0]):
            if name in AUDITED_TABLES:
                report.problems.append(
                    f"{name} {row_id} was removed outside the program (last audit entry #{seq})"
                )
