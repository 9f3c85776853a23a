"""Part 11 electronic signatures: who signed what, when, meaning what, and is it still valid.

A signature stores the SHA-256 of the canonical content of exactly what was signed: a
step entry with its material uses, a QC result, a deviation, or the batch record as a
whole. Validity is recomputed on every reading: if the record changed after signing,
the signature shows as invalid ("signed content changed") until someone signs again.
Because the record's own id is part of its content, a signature cannot be moved to
another record. Signing re-authenticates with user ID and password every time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

from sqlalchemy import Row, select
from sqlmodel import Session

from cellbatch.db.audit_chain import canonical_value, dumps, sha256
from cellbatch.db.database import Database
from cellbatch.db.tables import (
    AdverseEventReport,
    AuditEntry,
    Bag,
    Batch,
    Correction,
    Deviation,
    HeldBatch,
    MaterialUse,
    PrintedLabel,
    QcResult,
    ReleaseDecision,
    Signature,
    StepEntry,
    User,
    Vial,
)
from cellbatch.domain import late_results
from cellbatch.domain.errors import InvalidInput, NotFound
from cellbatch.domain.refs import record_number
from cellbatch.domain.timeparse import as_utc, iso_utc
from cellbatch.services.batch_access import find_batch

ENTITY_PREFIX = {"step_entry": "E", "qc_result": "Q", "deviation": "D", "printed_label": "L"}
"""How a signed record is named on screen and paper: E12, Q5, D3 (or ``batch``)."""

SHOWN_ONLY_PREFIX = {"held_batch": "HB", "adverse_event_report": "AE"}
"""Signed records named on screen but never signed by name (QA's lift of a hold: HB4; the
closing of an adverse-event report: AE2)."""

SIGNED_MODELS = {
    "step_entry": StepEntry,
    "qc_result": QcResult,
    "deviation": Deviation,
    "held_batch": HeldBatch,
    "adverse_event_report": AdverseEventReport,
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


class BatchRows:
    """The rows of one batch that signatures cover, each table read once when first needed.

    Computing the validity of every signature on a batch then costs one statement per table,
    whatever the number of entries and signatures.
    """

    def __init__(self, session: Session, batch: Batch) -> None:
        self.session = session
        self.batch = batch
        self._tables: dict[type, list] = {}
        self._uses: dict[int, list[MaterialUse]] | None = None

    def of(self, model) -> list:
        """Every row of ``model`` filed under the batch, by id."""
        if model not in self._tables:
            self._tables[model] = list(
                self.session.execute(
                    select(model).where(model.batch_id == self.batch.id).order_by(model.id)
                ).scalars()
            )
        return self._tables[model]

    def get(self, model, row_id: int):
        """The batch's row of ``model`` with this id, or None."""
        return next((r for r in self.of(model) if r.id == row_id), None)

    def loaded(self) -> list:
        """The batch and every row read so far: what the content computed from them covers."""
        rows = [self.batch]
        for table in self._tables.values():
            rows.extend(table)
        for uses in (self._uses or {}).values():
            rows.extend(uses)
        return rows

    def uses(self, entry: StepEntry) -> list[MaterialUse]:
        """The material uses of one of the batch's step entries, by id."""
        if self._uses is None:
            self._uses = defaultdict(list)
            for use in self.session.execute(
                select(MaterialUse)
                .join(StepEntry, StepEntry.id == MaterialUse.step_entry_id)
                .where(StepEntry.batch_id == self.batch.id)
                .order_by(MaterialUse.id)
            ).scalars():
                self._uses[use.step_entry_id].append(use)
        return self._uses.get(entry.id, [])


_AS_IS = frozenset({int, str, bool, type(None)})
"""Types whose values :func:`canonical_value` returns unchanged (it is not called for them)."""


def content_of(row: Any) -> dict[str, Any]:
    """The canonical content of a row, read as a table object or as a plain selected row.

    The same content as :func:`row_content`: each value goes through
    :func:`canonical_value` unless it is of a type that function returns as it is (a screen
    computes hundreds of these per reading, and most values are numbers and text).
    """
    if isinstance(row, Row):
        pairs = zip(row._fields, row, strict=True)
    else:
        pairs = ((name, getattr(row, name)) for name in _column_names(row.__table__))
    return {
        name: value if type(value) in _AS_IS else canonical_value(value) for name, value in pairs
    }


@cache
def _column_names(table: Any) -> tuple[str, ...]:
    return tuple(column.name for column in table.columns)


def step_content(entry: StepEntry, uses: list[MaterialUse]) -> dict[str, Any]:
    """The canonical content of a step entry with its material uses (what a signature covers)."""
    return {**content_of(entry), "materials": [content_of(u) for u in uses]}


def _batch_content(rows: BatchRows) -> dict[str, Any]:
    head = content_of(rows.batch)
    head.pop("status", None)
    released = late_results.released_at(
        [(d.decision, d.decided_at) for d in rows.of(ReleaseDecision)]
    )
    vials = []
    for vial in rows.of(Vial):
        content = content_of(vial)
        content.pop("thaw_entry_id", None)
        vials.append(content)
    return {
        "batch": head,
        "steps": [step_content(e, rows.uses(e)) for e in rows.of(StepEntry)],
        "qc": [
            content_of(q)
            for q in rows.of(QcResult)
            if not late_results.after_release(q.recorded_at, released)
        ],
        "corrections": [content_of(c) for c in rows.of(Correction)],
        "deviations": [content_of(d) for d in rows.of(Deviation)],
        "vials": vials,
        "bags": [content_of(b) for b in rows.of(Bag)],
    }


def batch_content(session: Session, batch: Batch) -> dict[str, Any]:
    """The canonical content of a whole batch record, as a batch-level signature covers it.

    The status is left out (the decision being signed changes it), and so is the thaw
    mark of a bank's vials (a released bank's vials are thawed later by dose batches), and
    so are the late results recorded after the release (a result after infusion): a passing
    one leaves the release in force; a failing one's deviation (part of the content) does not.
    """
    return _batch_content(BatchRows(session, batch))


def _signed_content(rows: BatchRows, entity: str, entity_id: int) -> dict[str, Any] | None:
    if entity == "batch":
        return _batch_content(rows) if entity_id == rows.batch.id else None
    if entity == "printed_label":
        label = rows.get(PrintedLabel, entity_id)
        return None if label is None else printed_label_content(label)
    model = SIGNED_MODELS.get(entity)
    if model is None:
        return None
    row = rows.get(model, entity_id)
    if row is None:
        return None
    if entity == "step_entry":
        return step_content(row, rows.uses(row))
    return content_of(row)


def signed_content(
    session: Session, batch: Batch, entity: str, entity_id: int
) -> dict[str, Any] | None:
    """The canonical content a signature on this record covers; None if it is not there."""
    return _signed_content(BatchRows(session, batch), entity, entity_id)


PRINTED_LABEL_SIGNED = (
    "id", "batch_id", "print_event_id", "bag_id", "vial_id", "sample", "kind", "final",
    "reprint", "flags", "site_settings_id", "content_hash", "document_hash", "printed_at",
    "printed_by",
)  # fmt: skip
"""What a signature on a printed label covers: the label as printed, not its later fate."""


def printed_label_content(label: PrintedLabel) -> dict[str, Any]:
    """The canonical content of a printed label as printed (applied/destroyed left out)."""
    content = content_of(label)
    return {name: content[name] for name in PRINTED_LABEL_SIGNED}


def content_hash(session: Session, batch: Batch, entity: str, entity_id: int) -> str:
    """SHA-256 of the canonical content of a record of ``batch``; NotFound if absent."""
    return content_hash_of(BatchRows(session, batch), entity, entity_id)


def content_hash_of(rows: BatchRows, entity: str, entity_id: int) -> str:
    """:func:`content_hash` from ``rows``, which then hold every row the content was read from."""
    content = _signed_content(rows, entity, entity_id)
    if content is None:
        raise NotFound(f"batch {rows.batch.code} has no {ref_of(entity, entity_id)}")
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


def why_invalid(
    signature: Signature, hash_now: str | None, corrections: Iterable[Correction]
) -> str | None:
    """Why a signature is no longer valid, or None: the one rule, wherever validity is shown.

    ``hash_now`` is the SHA-256 of its record's content now (None if the record is not there).
    """
    key = (signature.entity, signature.entity_id)
    if hash_now is None:
        return "signed record not found in this batch"
    if hash_now != signature.content_hash:
        return CONTENT_CHANGED
    if any(
        as_utc(c.corrected_at) > as_utc(signature.signed_at)
        and (signature.entity == "batch" or (c.entity, c.entity_id) == key)
        for c in corrections
    ):
        return CORRECTED_SINCE
    return None


def _superseded(sigs: list[Signature]) -> set[int]:
    """Signatures followed by a later one of the same meaning on the same record."""
    latest: dict[tuple[str, int, str], int] = {}
    for s in sigs:
        latest[(s.entity, s.entity_id, s.meaning)] = s.id
    return {s.id for s in sigs if latest[(s.entity, s.entity_id, s.meaning)] != s.id}


MEMO = "cellbatch.signature_views"
"""Key in ``session.info`` under which a read request keeps the signatures it computed."""
ROWS = "cellbatch.batch_rows"
"""Key in ``session.info`` under which a read request keeps the batch rows it read."""


def remember_signatures(session: Session) -> None:
    """Read each batch's rows and compute its signatures once for this (read-only) session.

    A read service that gathers one screen calls this first, so the batch view, the review
    and the verification queue share one reading of the rows and one computation of
    validity; sessions that write never do, so they always see the rows as they are after
    their own changes.
    """
    session.info.setdefault(MEMO, {})
    session.info.setdefault(ROWS, {})


def batch_rows(session: Session, batch: Batch) -> BatchRows:
    """The batch's rows: shared by the whole request when it remembers, else read afresh."""
    memo = session.info.get(ROWS)
    if memo is None:
        return BatchRows(session, batch)
    if batch.id not in memo:
        memo[batch.id] = BatchRows(session, batch)
    return memo[batch.id]


def signature_views(session: Session, batch: Batch) -> list[SignatureView]:
    """Every signature on a batch's records, each with its validity recomputed now."""
    memo = session.info.get(MEMO)
    if memo is not None and batch.id in memo:
        return memo[batch.id]
    views = _signature_views(session, batch)
    if memo is not None:
        memo[batch.id] = views
    return views


def _signature_views(session: Session, batch: Batch) -> list[SignatureView]:
    rows = batch_rows(session, batch)
    sigs = rows.of(Signature)
    people = {}
    ids = {s.signer_id for s in sigs}
    if ids:
        people = {
            u.id: u.username
            for u in session.execute(select(User).where(User.id.in_(ids))).scalars()
        }
    superseded = _superseded(sigs)
    corrections = rows.of(Correction) if sigs else []
    entries = {}
    if sigs:  # the audit entry that recorded each signature: one statement for all
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
    hashes: dict[tuple[str, int], str | None] = {}
    views = []
    for s in sigs:
        key = (s.entity, s.entity_id)
        if key not in hashes:
            content = _signed_content(rows, s.entity, s.entity_id)
            hashes[key] = None if content is None else sha256(dumps(content))
        reason = why_invalid(s, hashes[key], corrections)
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
                superseded=s.id in superseded,
                audit_entry=entries.get(s.id),
            )
        )
    return views


@dataclass(frozen=True)
class SignatureState:
    """Whether a signature is valid now and whether a later one of its kind replaced it."""

    valid: bool
    superseded: bool


HASHES_KEPT = 50_000
"""At most this many content hashes :func:`_row_hash` keeps (then it starts afresh)."""
_HASHES: dict[tuple[str, str], str] = {}


def _row_hash(entity: str, row: Row, uses: list[Row] | None) -> str:
    """SHA-256 of a plain row's canonical content (a step entry's with its ``uses``).

    Remembered in this process by the row's exact values: the content hash is a function of
    them alone, and ``repr`` of a selected row's values (text, numbers, times, JSON) is a
    Python literal that reads back to those values, so two rows with the same ``repr`` have
    the same content and the same hash. A screen refreshed with nothing changed then spends
    a ``repr`` per signed record instead of its canonical content, JSON and SHA-256; a
    record whose values changed (a correction, or an edit outside cellbatch) has another
    ``repr`` and is hashed afresh, so validity is still computed from the rows as read.
    """
    key = (entity, repr((tuple(row), None if uses is None else [tuple(u) for u in uses])))
    found = _HASHES.get(key)
    if found is None:
        content = content_of(row) if uses is None else step_content(row, uses)
        if len(_HASHES) >= HASHES_KEPT:
            _HASHES.clear()
        found = _HASHES[key] = sha256(dumps(content))
    return found


class SignedEntries:
    """The second-person verifications of entries of many batches, validity computed once.

    Built from rows read in bulk (the home screen reads them for every batch it shows), with
    the same rule as :func:`signature_views`.
    """

    def __init__(self, by_ref: dict[str, list[SignatureState]]) -> None:
        self.by_ref = by_ref

    @classmethod
    def of(
        cls,
        sigs: list[Signature],
        rows: dict[tuple[str, int], Any],
        uses: Iterable[MaterialUse],
        corrections: list[Correction],
    ) -> SignedEntries:
        """From the signatures, the signed rows by (entity, id), their uses and corrections."""
        uses_of: dict[int, list[MaterialUse]] = defaultdict(list)
        for use in uses:
            uses_of[use.step_entry_id].append(use)
        superseded = _superseded(sigs)
        hashes: dict[tuple[str, int, int], str | None] = {}
        by_ref: dict[str, list[SignatureState]] = defaultdict(list)
        for s in sigs:
            key = (s.entity, s.entity_id, s.batch_id)
            if key not in hashes:  # a record verified again is hashed once
                row = rows.get((s.entity, s.entity_id))
                hashes[key] = None
                if row is not None and row.batch_id == s.batch_id:
                    hashes[key] = _row_hash(
                        s.entity, row, uses_of.get(row.id, []) if s.entity == "step_entry" else None
                    )
            reason = why_invalid(s, hashes[key], corrections)
            by_ref[ref_of(s.entity, s.entity_id)].append(
                SignatureState(valid=reason is None, superseded=s.id in superseded)
            )
        return cls(dict(by_ref))

    def verifications_of(self, ref: str) -> list[SignatureState]:
        """The verifications of one entry (``E12``, ``Q5``), oldest first."""
        return self.by_ref.get(ref, [])


def batch_signatures(db: Database, code: str) -> list[SignatureView]:
    """Every signature on a batch, with validity (for ``batch show`` and review)."""
    with db.session() as session:
        return signature_views(session, find_batch(session, code))
