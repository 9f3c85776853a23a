"""The typed read model of the review by exception (what ``review`` returns), with ``to_dict()``.

``to_dict()`` gives the JSON of ``review --json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from cellbatch.services.queries.clinical_use import ClinicalUse
from cellbatch.services.queries.deviations import DeviationView
from cellbatch.services.queries.holds import HoldOnBatch
from cellbatch.services.queries.plain import Plain
from cellbatch.services.queries.signatures import SignatureView


@dataclass(frozen=True)
class Criterion(Plain):
    """One release criterion and whether the batch meets it now."""

    id: str
    description: str
    met: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON output."""
        return asdict(self)


@dataclass(frozen=True)
class OutOfSpec(Plain):
    """A QC result out of specification, with its retests and deviations."""

    id: str
    name: str
    stage: str
    value: str
    specification: str
    retest_of: str | None
    retests: tuple[str, ...]
    deviations: tuple[str, ...]
    recorded_by: str


@dataclass(frozen=True)
class Retest(Plain):
    """A QC result that retests an earlier one."""

    id: str
    name: str
    retest_of: str
    passed: bool


@dataclass(frozen=True)
class ReviewCorrection(Plain):
    """A value changed after first entry, as the review lists it (by user ID)."""

    id: int
    entry: str
    field: str
    old_value: str
    new_value: str
    reason: str
    corrected_at: str
    corrected_by: str


@dataclass(frozen=True)
class LateEntry(Plain):
    """An entry recorded long after the work it describes."""

    id: str
    what: str
    performed_at: str
    recorded_at: str
    hours_late: float
    recorded_by: str


@dataclass(frozen=True)
class MissingVerification(Plain):
    """A critical entry still without a valid second-person verification."""

    id: str
    what: str
    status: str


@dataclass(frozen=True)
class DonorEligibility(Plain):
    """A donor who is not plainly eligible."""

    code: str
    eligibility: str


@dataclass(frozen=True)
class WindowExceeded(Plain):
    """An SOP time window exceeded, from one entry to another (or to now)."""

    window: str
    start: str
    """The entry the window runs from (``from`` in JSON)."""
    end: str
    """The entry it runs to, or ``now (not filled)`` (``to`` in JSON)."""
    limit: str
    actual_hours: float

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON output."""
        return {
            "window": self.window,
            "from": self.start,
            "to": self.end,
            "limit": self.limit,
            "actual_hours": self.actual_hours,
        }


@dataclass(frozen=True)
class FlaggedValue(Plain):
    """A step entry with values flagged outside the SOP range."""

    id: str
    what: str
    flags: tuple[str, ...]


@dataclass(frozen=True)
class DoseNearTolerance(Plain):
    """A fill whose dose is near (or past) the tolerance limit."""

    entry: str
    deviation_from_target_percent: float
    tolerance_percent: float
    within_tolerance: bool


@dataclass(frozen=True)
class Review(Plain):
    """The review by exception of one batch, with its release checklist."""

    batch: str
    kind: str
    status: str
    reviewed_at: str
    out_of_spec: tuple[OutOfSpec, ...]
    retests: tuple[Retest, ...]
    deviations: tuple[DeviationView, ...]
    corrections: tuple[ReviewCorrection, ...]
    late_entries: tuple[LateEntry, ...]
    late_entry_hours: float
    missing_verifications: tuple[MissingVerification, ...]
    invalid_signatures: tuple[SignatureView, ...]
    donor_eligibility: DonorEligibility | None
    sop_windows_exceeded: tuple[WindowExceeded, ...]
    flagged_values: tuple[FlaggedValue, ...]
    doses_near_tolerance: tuple[DoseNearTolerance, ...]
    holds: tuple[HoldOnBatch, ...]
    checklist: tuple[Criterion, ...]
    ready_for_release: bool
    clinical_use: ClinicalUse
    """A dose's bag after release: issue, hand-overs, bedside checks, the infusion."""
    checklist_decided_at: str | None = None
    """For a batch released or rejected: when. The checklist is still computed now (a donor
    made pending after the release shows), while the one QA decided on is kept with the
    decision and printed in the batch record; a decided batch is never 'ready for release'."""

    def criterion(self, id: str) -> Criterion:
        """The checklist's criterion ``id`` (KeyError if the checklist has none)."""
        for c in self.checklist:
            if c.id == id:
                return c
        raise KeyError(id)


@dataclass(frozen=True)
class EntryQa:
    """A step entry's or QC result's verification state and signatures, for the batch view."""

    needs_verification: bool
    verification_status: str
    verifications: tuple[SignatureView, ...]
    signatures: tuple[SignatureView, ...]


@dataclass(frozen=True)
class QaSections:
    """What a batch view shows of signatures, verifications and deviations."""

    entries: dict[str, EntryQa]
    """By entry (``E12``, ``Q5``)."""
    signatures: tuple[SignatureView, ...]
    deviations: tuple[DeviationView, ...]
