"""Second-person verification of critical entries (EU GMP Annex 11 §6).

The SOP says which entries are critical: a step entry whose step has critical parameters
or records material lots, a QC result whose test is critical. Each needs a ``verified``
signature by someone other than the person who recorded it or corrected it; the signature
is bound to the entry's content, so a later correction needs a new verification.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlmodel import Session

from cellbatch.db.database import Database
from cellbatch.db.tables import Batch, QcResult, StepEntry
from cellbatch.domain.errors import NotFound
from cellbatch.domain.sop import Sop
from cellbatch.services.batch_access import find_batch
from cellbatch.services.queries.signatures import (
    SignatureState,
    SignatureView,
    batch_rows,
    ref_of,
    signature_views,
)
from cellbatch.services.queries.sops import sop_of


@dataclass
class EntryVerification:
    """Whether one entry needs a second person, and where its verification stands."""

    ref: str
    what: str
    recorded_by: int
    needs_verification: bool
    status: str
    """``not required``, ``pending``, ``verified`` or ``invalid`` (content changed since)."""
    verifications: list[SignatureView] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON output."""
        out = asdict(self)
        out.pop("recorded_by")
        return out


def step_needs_verification(sop: Sop, entry: StepEntry) -> bool:
    """A step entry is critical when its SOP step has critical parameters or material lots."""
    if not sop.has_step(entry.kind):
        return False
    step = sop.step(entry.kind)
    return bool(step.critical_fields) or bool(step.materials)


def qc_needs_verification(sop: Sop, result: QcResult) -> bool:
    """A QC result is critical when the SOP marks its test critical."""
    try:
        return sop.qc_test(result.qc_id).critical
    except NotFound:
        return True


def verification_state(
    needed: bool, verifications: Sequence[SignatureView | SignatureState]
) -> str:
    """``verified``, ``invalid``, ``pending`` or ``not required``, from an entry's verifications."""
    current = [v for v in verifications if not v.superseded]
    if current and current[-1].valid:
        return "verified"
    if current:
        return "invalid"
    return "pending" if needed else "not required"


def entry_verifications(
    session: Session, batch: Batch, sigs: list[SignatureView] | None = None
) -> list[EntryVerification]:
    """Every step entry and QC result of a batch, with its verification state."""
    sop = sop_of(session, batch)
    sigs = signature_views(session, batch) if sigs is None else sigs
    by_ref: dict[str, list[SignatureView]] = {}
    for s in sigs:
        if s.meaning == "verified":
            by_ref.setdefault(s.on, []).append(s)
    out: list[EntryVerification] = []
    rows = batch_rows(session, batch)
    for e in rows.of(StepEntry):
        ref = ref_of("step_entry", e.id)
        needed = step_needs_verification(sop, e)
        found = by_ref.get(ref, [])
        out.append(
            EntryVerification(
                ref, e.kind, e.recorded_by, needed, verification_state(needed, found), found
            )
        )
    for q in rows.of(QcResult):
        ref = ref_of("qc_result", q.id)
        needed = qc_needs_verification(sop, q)
        found = by_ref.get(ref, [])
        out.append(
            EntryVerification(
                ref, q.name, q.recorded_by, needed, verification_state(needed, found), found
            )
        )
    return out


def verification_status(db: Database, code: str) -> list[EntryVerification]:
    """Verification state of every entry of a batch."""
    with db.session() as session:
        return entry_verifications(session, find_batch(session, code))
