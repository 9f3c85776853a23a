"""One use case, one transaction: the records it writes and their audit entries.

Every write of the program goes through :class:`UnitOfWork`. It begins by taking the
database's write lock, and only then reads the clock: every check the use case makes holds
until it commits, and the audit trail's times never go backwards. The clock is the trusted
one (the database server's on PostgreSQL), read only after the clocks were compared
(:mod:`cellbatch.services.trusted_time`): a write is refused when they disagree. ``add``
and ``change`` flush the row, reload it as the database stored it, and append a
hash-chained audit entry in the same transaction. Nothing is written unless ``commit`` is called.

A unit of work never vouches for a record someone edited behind the program's back: before
it first writes over an existing audited row, or appends an entry that vouches for one, it
compares the row as stored with the newest entry that vouched for it (the comparison
``audit verify`` makes, :func:`cellbatch.db.audit_chain_rows.stored_row_problem`) and refuses
with :class:`~cellbatch.db.audit_chain_rows.RecordTampered`. Cost: two look-ups by key per
row, once per unit of work (docs/trust-model.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import event, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session, SQLModel

from cellbatch.db.audit_chain import (
    REDACTED_FIELDS,
    canonical_value,
    dumps,
    entry_mac,
    public_content,
    row_hash,
)
from cellbatch.db.audit_chain_rows import refuse_tampered, stored_row_problem
from cellbatch.db.database import Database
from cellbatch.db.failures import database_problem
from cellbatch.db.tables import AUDITED_TABLES, AuditEntry, AuditHead
from cellbatch.domain.errors import RuleViolation
from cellbatch.domain.trusted_time import TimeSource
from cellbatch.domain.users import Actor
from cellbatch.services.trusted_time import checked_ntp, told, trusted_now
from cellbatch.services.uniqueness import refusal

Row = TypeVar("Row", bound=SQLModel)

SYSTEM_USER = "system"
"""The name audit entries carry when no person acted (first set-up)."""


def display(value: Any) -> str | None:
    """A stored value as the audit trail shows it."""
    if value is None:
        return None
    canonical = canonical_value(value)
    if isinstance(canonical, dict | list):
        return dumps(canonical)
    return str(canonical)


def _audited(row: Any) -> bool:
    return AUDITED_TABLES.get(getattr(row, "__tablename__", "")) is type(row)


class UnitOfWork:
    """A transaction that records who did what, and rolls back unless committed."""

    def __init__(self, db: Database, actor: Actor | None) -> None:
        self.db = db
        self.actor = actor
        self.session: Session
        self.now: datetime
        """The time of every record of this unit of work: the trusted clock's (or, only for
        the demo and test fixtures, a time told: :func:`.trusted_time.told_time`)."""
        self.written_at: datetime
        """The trusted clock's time: every audit entry of this unit of work carries it."""
        self.time_source: TimeSource
        """The clock ``now`` was read from and the comparisons that vouched for it."""
        self._committed = False
        self.last_entry: AuditEntry | None = None
        """The last audit entry this unit of work appended (what a release anchors)."""
        self._proven: set[tuple[str, str]] = set()
        """Rows compared with their trail already (or inserted) in this unit of work."""
        self._inserted: list[SQLModel] = []

    def __enter__(self) -> UnitOfWork:
        self._secret = self.db.site_key().secret  # no key, or not this database's: no write
        ntp = checked_ntp()  # before the lock: an NTP answer must not hold up other writers
        try:
            self.session = self.db.write_session()  # the write lock first ...
        except DBAPIError as exc:
            raise database_problem(exc) from exc
        event.listen(self.session, "before_flush", self._before_flush)
        try:
            self.written_at, self.time_source = trusted_now(self.session, ntp)  # ... the clock
            self.now = told() or self.written_at
        except DBAPIError as exc:
            self.session.close()
            raise database_problem(exc) from exc
        except BaseException:
            self.session.close()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self._committed:
            self.session.rollback()
        self.session.close()
        if isinstance(exc, DBAPIError):  # a statement of the use case itself failed
            raise database_problem(exc) from exc

    def commit(self) -> None:
        """Make every write of this unit of work permanent, together."""
        try:
            self.session.commit()
        except IntegrityError as exc:
            self.session.rollback()
            raise RuleViolation(f"the database refused the change: {exc.orig}") from exc
        except DBAPIError as exc:
            self.session.rollback()
            raise database_problem(exc) from exc
        self._committed = True

    def _flush(self, row: SQLModel | None = None) -> None:
        try:
            self.session.flush()
        except IntegrityError as exc:
            refused = refusal(self.db, exc, row)  # while ``row`` still holds what was written
            self.session.rollback()
            raise (
                refused or RuleViolation(f"the database refused the change: {exc.orig}")
            ) from exc
        except DBAPIError as exc:
            raise database_problem(exc) from exc

    def _before_flush(self, session: Session, _context: Any, _instances: Any) -> None:
        """Prove every audited row about to be written over, before the flush writes it."""
        self._inserted.extend(row for row in session.new if _audited(row))
        for row in list(session.dirty):
            if _audited(row) and session.is_modified(row):
                self.prove(row)

    def prove(self, row: SQLModel) -> None:
        """Refuse unless ``row`` is stored as the newest audit entry about it says.

        Once per row and unit of work; a row this unit of work inserted needs no proof.
        """
        if not _audited(row):  # a table the chain does not vouch for has nothing to prove
            return
        name = row.__tablename__  # type: ignore[attr-defined]
        key = (name, str(row.id))  # type: ignore[attr-defined]
        if key in self._proven:
            return
        if any(row is new for new in self._inserted):
            self._proven.add(key)
            return
        try:
            problem = stored_row_problem(
                self.session.connection(),
                row.__table__,  # type: ignore[attr-defined]
                row.id,  # type: ignore[attr-defined]
            )
        except DBAPIError as exc:
            raise database_problem(exc) from exc
        if problem is not None:
            raise refuse_tampered(problem)
        self._proven.add(key)

    def add(self, row: Row, *, reason: str | None = None, batch_id: int | None = None) -> Row:
        """Insert ``row`` and audit its creation with its full content."""
        self.session.add(row)
        self._flush(row)
        self.session.refresh(row)
        self.audit(
            "create",
            row,
            new_value=dumps(public_content(row)),
            reason=reason,
            batch_id=batch_id,
        )
        return row

    def change(
        self,
        row: Row,
        field: str,
        value: Any,
        *,
        reason: str | None,
        batch_id: int | None = None,
        action: str = "update",
        label: str | None = None,
        old_display: str | None = None,
        new_display: str | None = None,
    ) -> Row:
        """Set one column of ``row`` and audit old and new value with the reason."""
        self.prove(row)
        old = getattr(row, field)
        setattr(row, field, value)
        self.session.add(row)
        self._flush(row)
        self.session.refresh(row)
        redact = field in REDACTED_FIELDS
        self.audit(
            action,
            row,
            field=label or field,
            old_value="<redacted>" if redact else (old_display or display(old)),
            new_value="<redacted>" if redact else (new_display or display(getattr(row, field))),
            reason=reason,
            batch_id=batch_id,
        )
        return row

    def audit(
        self,
        action: str,
        row: SQLModel | None,
        *,
        entity: str | None = None,
        entity_id: str | None = None,
        field: str | None = None,
        old_value: str | None = None,
        new_value: str | None = None,
        reason: str | None = None,
        batch_id: int | None = None,
    ) -> AuditEntry:
        """Append one sealed, chained entry; ``row`` (if any) is vouched for by its hash."""
        head = self.session.execute(
            select(AuditHead).where(AuditHead.id == 1).with_for_update()
        ).scalar_one()
        if row is not None:
            self.prove(row)  # a row written by this unit of work was proven before its flush
            entity = row.__tablename__  # type: ignore[attr-defined]
            entity_id = str(row.id)  # type: ignore[attr-defined]
        values: dict[str, Any] = {
            "seq": head.seq + 1,
            "at": self.written_at,
            "user_id": self.actor.id if self.actor else None,
            "username": self.actor.username if self.actor else SYSTEM_USER,
            "action": action,
            "entity": entity or "",
            "entity_id": entity_id or "",
            "batch_id": batch_id,
            "field": field,
            "old_value": old_value,
            "new_value": new_value,
            "reason": reason,
            "row_hash": row_hash(row) if row is not None else None,
            "prev_hash": head.hash,
        }
        values["hash"] = entry_mac(self._secret, values)
        entry = AuditEntry(**values)
        self.session.add(entry)
        head.seq = entry.seq
        head.hash = entry.hash
        self.last_entry = entry
        self.session.add(head)
        self._flush()
        return entry
