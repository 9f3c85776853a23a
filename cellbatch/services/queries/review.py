"""Review by exception: what in a batch record needs a QA officer's eyes, and the release checklist.

The review lists only exceptions: out-of-spec results and retests, deviations, corrections,
late entries, missing second-person verifications, invalid signatures, a donor who is not
plainly eligible, SOP time windows exceeded, values flagged outside the SOP range and doses
near the tolerance limits. For a dose batch it shows too what became of the bag after its
release: issue, hand-overs, bedside checks and the infusion. The checklist holds the release
criteria, each met or not; the release decision refuses while any is unmet.

A *late entry* is one recorded more than ``CELLBATCH_LATE_ENTRY_HOURS`` (default 24) after
the time it describes. A dose is *near the limit* when its deviation from target is at least
``CELLBATCH_DOSE_NEAR_LIMIT_PERCENT`` (default 80) percent of the SOP tolerance.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session

from cellbatch import units
from cellbatch.db.database import Database, server_now
from cellbatch.db.tables import (
    Bag,
    Batch,
    Correction,
    Donor,
    DonorTest,
    HeldBatch,
    QcResult,
    ReleaseChecklist,
    ReleaseDecision,
    Signature,
    SopVersion,
    StepEntry,
    TissueLot,
    User,
)
from cellbatch.domain import dosing
from cellbatch.domain.errors import NotFound
from cellbatch.domain.sop import Sop
from cellbatch.domain.steps import kind_of
from cellbatch.domain.timeparse import as_utc, iso_utc
from cellbatch.services.batch_access import find_batch
from cellbatch.services.queries.clinical_use import ClinicalUse, clinical_use
from cellbatch.services.queries.deviations import DeviationView, deviation_views
from cellbatch.services.queries.donors import reactive_markers
from cellbatch.services.queries.holds import HoldOnBatch, batch_holds
from cellbatch.services.queries.review_model import (
    Criterion,
    DonorEligibility,
    DoseNearTolerance,
    EntryQa,
    FlaggedValue,
    LateEntry,
    MissingVerification,
    OutOfSpec,
    QaSections,
    Retest,
    Review,
    ReviewCorrection,
    WindowExceeded,
)
from cellbatch.services.queries.signatures import (
    SignatureView,
    batch_rows,
    remember_signatures,
    signature_views,
)
from cellbatch.services.queries.sops import sop_of
from cellbatch.services.queries.step_context import step_context
from cellbatch.services.queries.verification import EntryVerification, entry_verifications


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:  # a broken setting must say which one
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


def late_entry_hours() -> float:
    """Hours between the work and its recording after which an entry counts as late."""
    return _float_env("CELLBATCH_LATE_ENTRY_HOURS", 24.0)


def near_limit_percent() -> float:
    """Share of the dose tolerance (in %) from which a dose counts as near the limit."""
    return _float_env("CELLBATCH_DOSE_NEAR_LIMIT_PERCENT", 80.0)


@dataclass
class _Record:
    """Everything the review and the checklist are computed from, read once."""

    batch: Batch
    sop: Sop
    now: datetime
    steps: list[StepEntry]
    qc: list[QcResult]
    corrections: list[Correction]
    signatures: list[SignatureView]
    verifications: list[EntryVerification]
    deviations: list[DeviationView]
    donor: Donor
    reactive: list[str]
    bag: Bag | None
    people: dict[int, str]
    holds: list[HoldOnBatch]
    clinical_use: ClinicalUse


def _load(session: Session, batch: Batch, now: datetime | None = None) -> _Record:
    shared = batch_rows(session, batch)
    sigs = signature_views(session, batch)
    bank = batch if batch.kind == "expansion" else session.get(Batch, batch.parent_batch_id)
    lot = session.get(TissueLot, bank.tissue_lot_id)
    steps = shared.of(StepEntry)
    qc = shared.of(QcResult)
    corrections = shared.of(Correction)
    ids = {e.recorded_by for e in steps} | {q.recorded_by for q in qc}
    ids |= {c.corrected_by for c in corrections}
    people = {}
    if ids:
        people = {
            u.id: u.username
            for u in session.execute(select(User).where(User.id.in_(ids))).scalars()
        }
    donor = session.get(Donor, lot.donor_id)
    return _Record(
        batch=batch,
        sop=sop_of(session, batch),
        now=now or server_now(session),
        steps=steps,
        qc=qc,
        corrections=corrections,
        signatures=sigs,
        verifications=entry_verifications(session, batch, sigs),
        deviations=deviation_views(session, batch, sigs),
        donor=donor,
        reactive=reactive_markers(session, donor),
        bag=session.execute(select(Bag).where(Bag.batch_id == batch.id)).scalars().first(),
        people=people,
        holds=batch_holds(session, batch),
        clinical_use=clinical_use(session, batch),
    )


def _shown(sop: Sop, q: QcResult) -> str:
    if q.value_text is not None:
        return q.value_text
    try:
        measure = sop.qc_test(q.qc_id).measure
    except NotFound:
        measure = None
    return units.fmt(q.value_num, measure) if measure else str(q.value_num)


def _latest_by_test(qc: list[QcResult]) -> dict[str, QcResult]:
    latest: dict[str, QcResult] = {}
    for q in qc:  # ordered by id: a later result (a retest) replaces the earlier one here
        latest[q.qc_id] = q
    return latest


def _invalid_signatures(r: _Record) -> list[SignatureView]:
    """Invalid signatures still current; batch-level ones are earlier decisions, not blockers."""
    return [s for s in r.signatures if not s.valid and not s.superseded and s.on != "batch"]


def _checklist(r: _Record) -> list[Criterion]:
    out: list[Criterion] = []
    latest = _latest_by_test(r.qc)
    missing, failing = [], []
    for test in r.sop.release_qc():
        q = latest.get(test.id)
        if q is None:
            missing.append(test.id)
        elif not q.passed:
            failing.append(f"{test.id} (Q{q.id})")
    detail = "; ".join(
        part
        for part in (
            f"missing: {', '.join(missing)}" if missing else "",
            f"failing: {', '.join(failing)}" if failing else "",
        )
        if part
    )
    out.append(
        Criterion(
            "release-qc",
            "All release-required QC results present and passing (latest result of each)",
            not detail,
            detail or f"{len(r.sop.release_qc())} tests present and passing",
        )
    )
    closed_for = {d.qc_result for d in r.deviations if d.status == "closed" and d.qc_result}
    unresolved = [f"Q{q.id}" for q in r.qc if not q.passed and f"Q{q.id}" not in closed_for]
    out.append(
        Criterion(
            "oos-deviations-closed",
            "Every out-of-specification result has a closed deviation",
            not unresolved,
            f"without a closed deviation: {', '.join(unresolved)}"
            if unresolved
            else ("all closed" if any(not q.passed for q in r.qc) else "no out-of-spec result"),
        )
    )
    still_open = [d.id for d in r.deviations if d.status != "closed"]
    out.append(
        Criterion(
            "no-open-deviation",
            "No open deviation",
            not still_open,
            f"open: {', '.join(still_open)}" if still_open else "none open",
        )
    )
    pending = [
        f"{v.ref} ({v.status})"
        for v in r.verifications
        if v.needs_verification and v.status != "verified"
    ]
    out.append(
        Criterion(
            "verifications-complete",
            "Every critical entry verified by a second person",
            not pending,
            f"not verified: {', '.join(pending)}" if pending else "all verified",
        )
    )
    invalid = [f"{s.on} {s.meaning} by {s.username}" for s in _invalid_signatures(r)]
    out.append(
        Criterion(
            "signatures-valid",
            "No invalid signature",
            not invalid,
            f"invalid: {', '.join(invalid)}" if invalid else "all valid",
        )
    )
    kinds = [e.kind for e in r.steps]
    if r.batch.kind == "expansion":
        out.append(
            Criterion(
                "bank-frozen",
                "The bank is frozen",
                "freeze" in kinds,
                "frozen" if "freeze" in kinds else "no freeze recorded",
            )
        )
    else:
        out.append(
            Criterion(
                "bag-filled",
                "The bag is filled",
                r.bag is not None,
                "filled" if r.bag is not None else "no fill recorded",
            )
        )
        in_date = r.bag is not None and r.bag.expires_at > r.now
        out.append(
            Criterion(
                "bag-in-date",
                "The bag has not expired",
                in_date,
                f"expires {iso_utc(r.bag.expires_at)}"
                if r.bag is not None
                else "no bag filled yet",
            )
        )
    holds = r.holds
    out.append(
        Criterion(
            "not-on-hold",
            "No hold in force (new donor information, a failing late result, a recall)",
            not holds,
            "; ".join(h.text() for h in holds) if holds else "not held",
        )
    )
    pending_donor = r.donor.eligibility == "pending"
    if r.donor.eligibility == "eligible" and r.reactive:  # recorded before this rule existed
        pending_donor = True
    out.append(
        Criterion(
            "donor-determined",
            "Donor eligibility determined (product from a pending donor stays in quarantine)",
            not pending_donor,
            f"donor {r.donor.code}: {r.donor.eligibility}"
            + (f"; reactive: {', '.join(r.reactive)}" if r.reactive else ""),
        )
    )
    return out


def release_checklist(
    session: Session, batch: Batch, now: datetime | None = None
) -> list[Criterion]:
    """The release criteria of a batch, each met or not, computed now.

    ``now`` is the time of the decision they are computed for (its unit of work's time): the
    trusted clock's, or the story's time the demo tells (a bag in date when it was released).
    """
    return _checklist(_load(session, batch, now))


def checklist_sources(session: Session, batch: Batch) -> list:
    """The stored rows a release checklist rests on beyond the batch record a release signs.

    The batch's signatures (whose validity the checklist counts), its SOP version (which says
    what release needs), its holds, its bank, tissue lot, donor and the donor's tests: a
    release proves them, with the signed record, before it decides (a release resting on a
    signature row edited to look valid again was accepted).
    """
    bank = batch if batch.kind == "expansion" else session.get(Batch, batch.parent_batch_id)
    lot = session.get(TissueLot, bank.tissue_lot_id)
    donor = session.get(Donor, lot.donor_id)
    rows: list = [bank, lot, donor, session.get(SopVersion, batch.sop_version_id)]
    rows += session.execute(select(Signature).where(Signature.batch_id == batch.id)).scalars()
    rows += session.execute(select(HeldBatch).where(HeldBatch.batch_id == batch.id)).scalars()
    rows += session.execute(select(DonorTest).where(DonorTest.donor_id == donor.id)).scalars()
    return rows


def kept_checklist(
    session: Session, batch: Batch
) -> tuple[tuple[Criterion, ...] | None, str] | None:
    """The checklist QA decided on, and when, for a batch released or rejected; else None.

    A decided batch is shown with the checklist as it stood at its decision (kept with it):
    computed again later, a released dose's bag reads expired. The criteria are None for a
    batch decided before cellbatch kept the checklist.
    """
    if batch.status not in ("released", "rejected"):
        return None
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
        return None
    decided, kept = row
    criteria = None
    if kept is not None:
        criteria = tuple(
            Criterion(c["id"], c["description"], c["met"], c["detail"]) for c in kept.criteria
        )
    return criteria, iso_utc(decided.decided_at)


def _windows(r: _Record) -> list[WindowExceeded]:
    """The SOP windows of each step kind that were exceeded (or are, for a step to come)."""
    out = []
    for step in r.sop.steps:
        index = next((i for i, e in enumerate(r.steps) if e.kind == step.kind), None)
        done = r.steps[index] if index is not None else None
        before = r.steps[:index] if index is not None else r.steps
        end = as_utc(done.performed_at) if done else r.now
        context = step_context(r.batch, r.sop, step.kind, at=end, before=before)
        for window in kind_of(step.kind).windows(context):
            if end > window.due:
                hours = (end - window.start.performed_at).total_seconds() / 3600
                out.append(
                    WindowExceeded(
                        window=window.name,
                        start=window.start.ref,
                        end=f"E{done.id}" if done else f"now (not {_past(step.kind)})",
                        limit=window.limit,
                        actual_hours=round(hours, 2),
                    )
                )
    return out


def _past(kind: str) -> str:
    return "filled" if kind == "fill" else "done"


def _dose_near_limit(r: _Record) -> list[DoseNearTolerance]:
    fill = next((e for e in r.steps if e.kind == "fill"), None)
    if r.batch.kind != "dose" or fill is None:
        return []
    tolerance = r.sop.dose.tolerance_percent
    target = dosing.dose_target(r.batch.dose_per_kg, r.batch.body_weight_kg, tolerance)
    off = target.deviation_percent(fill.values["viable_cells"])
    if abs(off) < tolerance * near_limit_percent() / 100.0:
        return []
    return [
        DoseNearTolerance(
            entry=f"E{fill.id}",
            deviation_from_target_percent=round(off, 2),
            tolerance_percent=tolerance,
            within_tolerance=abs(off) <= tolerance,
        )
    ]


def _review(r: _Record, kept: tuple[tuple[Criterion, ...] | None, str] | None = None) -> Review:
    retests: dict[int, list[str]] = {}
    for q in r.qc:
        if q.retest_of_id:
            retests.setdefault(q.retest_of_id, []).append(f"Q{q.id}")
    devs_of: dict[str, list[str]] = {}
    for d in r.deviations:
        if d.qc_result:
            devs_of.setdefault(d.qc_result, []).append(d.id)
    oos = tuple(
        OutOfSpec(
            id=f"Q{q.id}",
            name=q.name,
            stage=q.stage,
            value=_shown(r.sop, q),
            specification=q.spec,
            retest_of=f"Q{q.retest_of_id}" if q.retest_of_id else None,
            retests=tuple(retests.get(q.id, [])),
            deviations=tuple(devs_of.get(f"Q{q.id}", [])),
            recorded_by=r.people.get(q.recorded_by, "?"),
        )
        for q in r.qc
        if not q.passed
    )
    limit = timedelta(hours=late_entry_hours())
    late = []
    for ref, kind, performed, recorded, by in [
        (f"E{e.id}", e.kind, e.performed_at, e.recorded_at, e.recorded_by) for e in r.steps
    ] + [(f"Q{q.id}", q.name, q.performed_at, q.recorded_at, q.recorded_by) for q in r.qc]:
        if recorded - performed > limit:
            late.append(
                LateEntry(
                    id=ref,
                    what=kind,
                    performed_at=iso_utc(performed),
                    recorded_at=iso_utc(recorded),
                    hours_late=round((recorded - performed).total_seconds() / 3600, 1),
                    recorded_by=r.people.get(by, "?"),
                )
            )
    checklist = tuple(_checklist(r))
    decided_at = None
    if kept is not None:
        decided_at = kept[1]
    donor = None
    if r.donor.eligibility != "eligible":
        donor = DonorEligibility(r.donor.code, r.donor.eligibility)
    return Review(
        batch=r.batch.code,
        kind=r.batch.kind,
        status=r.batch.status,
        reviewed_at=iso_utc(r.now),
        out_of_spec=oos,
        retests=tuple(
            Retest(f"Q{q.id}", q.name, f"Q{q.retest_of_id}", q.passed)
            for q in r.qc
            if q.retest_of_id
        ),
        deviations=tuple(r.deviations),
        corrections=tuple(
            ReviewCorrection(
                id=c.id,
                entry=("E" if c.entity == "step_entry" else "Q") + str(c.entity_id),
                field=c.field,
                old_value=c.old_value,
                new_value=c.new_value,
                reason=c.reason,
                corrected_at=iso_utc(c.corrected_at),
                corrected_by=r.people.get(c.corrected_by, "?"),
            )
            for c in r.corrections
        ),
        late_entries=tuple(late),
        late_entry_hours=late_entry_hours(),
        missing_verifications=tuple(
            MissingVerification(v.ref, v.what, v.status)
            for v in r.verifications
            if v.needs_verification and v.status != "verified"
        ),
        invalid_signatures=tuple(_invalid_signatures(r)),
        donor_eligibility=donor,
        sop_windows_exceeded=tuple(_windows(r)),
        flagged_values=tuple(
            FlaggedValue(f"E{e.id}", e.kind, tuple(e.values["flags"]))
            for e in r.steps
            if e.values.get("flags")
        ),
        doses_near_tolerance=tuple(_dose_near_limit(r)),
        holds=tuple(r.holds),
        checklist=checklist,
        ready_for_release=decided_at is None and all(c.met for c in checklist),
        checklist_decided_at=decided_at,
        clinical_use=r.clinical_use,
    )


def review(db: Database, code: str) -> Review:
    """The review-by-exception of one batch, with its release checklist."""
    with db.session() as session:
        remember_signatures(session)
        return review_of(session, find_batch(session, code))


def review_of(session: Session, batch: Batch) -> Review:
    """The review of ``batch``, read in ``session`` (a screen's one request)."""
    return _review(_load(session, batch), kept_checklist(session, batch))


def qa_sections(session: Session, batch: Batch) -> QaSections:
    """What a batch view shows of signatures, verifications and deviations."""
    sigs = signature_views(session, batch)
    entries = {}
    for v in entry_verifications(session, batch, sigs):
        entries[v.ref] = EntryQa(
            needs_verification=v.needs_verification,
            verification_status=v.status,
            verifications=tuple(v.verifications),
            signatures=tuple(s for s in sigs if s.on == v.ref),
        )
    return QaSections(
        entries=entries,
        signatures=tuple(sigs),
        deviations=tuple(deviation_views(session, batch, sigs)),
    )
