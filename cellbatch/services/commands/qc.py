"""QC results: value with unit, the SOP's specification, pass/fail computed; retests kept.

A test the SOP marks ``result_after_infusion`` (a 7-day sterility test) is recorded on a
released batch too, as a late result; a failing one holds the batch (cause ``late-result``)
and its deviation names the recipient and whether the bag was given (docs/clinic.md).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from cellbatch import units
from cellbatch.db.database import Database
from cellbatch.db.tables import (
    AdverseEventReport,
    Batch,
    Deviation,
    InfusionRecord,
    QcResult,
    Recipient,
)
from cellbatch.domain import bedside
from cellbatch.domain.errors import InvalidInput, NotFound, RuleViolation
from cellbatch.domain.refs import record_number
from cellbatch.domain.sop import QcTest
from cellbatch.domain.steps.sampling import tested_step
from cellbatch.domain.text import MAX_TEXT, typed_text
from cellbatch.domain.timeparse import as_utc, iso_utc
from cellbatch.domain.users import RECORDING_ROLES, Actor, Role
from cellbatch.services.batch_access import (
    check_work_time,
    ensure_open,
    entries,
    find_batch,
    not_before,
)
from cellbatch.services.commands.deviations import open_for_oos
from cellbatch.services.commands.holds import place_hold
from cellbatch.services.queries.sops import sop_of
from cellbatch.services.queries.step_context import prior
from cellbatch.services.unit_of_work import UnitOfWork

STAGES = ("in-process", "release")
"""When a QC test is done: during the process or for release."""


def parse_result(test: QcTest, text: str) -> float | str:
    """A typed result in the test's unit (numeric) or one of its allowed words."""
    if test.qualitative:
        word = text.strip().lower()
        allowed = {a.lower(): a for a in test.allowed}
        if word not in allowed:
            raise InvalidInput(
                "--value",
                f"expected one of {', '.join(test.allowed)} for "
                f"{test.name}, got {text.strip()[:40]!r}",
            )
        return allowed[word]
    return units.parse(text, test.measure, field="--value")


COMPUTED_QC_TESTS = frozenset({"cell-dose"})
"""QC tests the program computes from the record (the fill), never typed in by hand."""


def latest_result(session: Session, batch: Batch, test: QcTest) -> QcResult | None:
    """The newest result of ``test`` on the batch (the one a new result would retest)."""
    return (
        session.execute(
            select(QcResult)
            .where(QcResult.batch_id == batch.id, QcResult.qc_id == test.id)
            .order_by(QcResult.id.desc())
        )
        .scalars()
        .first()
    )


def _check_performed_at(session: Session, batch: Batch, test: QcTest, when: datetime) -> None:
    """Refuse a QC time before the batch started, the step it tests or the result it retests."""
    previous = latest_result(session, batch, test)
    if previous is not None and previous.performed_at > batch.started_at:
        not_before(when, previous.performed_at, f"Q{previous.id}, the result this one retests")
    else:
        not_before(when, batch.started_at, "the batch started")
    tested = tested_step(test.stage, batch.kind, [prior(e) for e in entries(session, batch.id)])
    if tested is not None:
        not_before(
            when,
            tested.performed_at,
            f"{tested.ref} ({tested.kind}), the step whose cells this {test.stage} result tests",
        )


def write_result(
    uow: UnitOfWork,
    batch: Batch,
    test: QcTest,
    value: float | str,
    *,
    method: str | None,
    at: datetime,
    note: str | None = None,
    concerns: str | None = None,
) -> QcResult:
    """Store one result (a retest if the test has one already); an OOS opens a deviation.

    ``concerns`` names whom a late result concerns (the recipient), in its deviation's title.
    """
    previous = latest_result(uow.session, batch, test)
    numeric = not isinstance(value, str)
    result = QcResult(
        batch_id=batch.id,
        qc_id=test.id,
        test=test.test,
        name=test.name,
        method=method or test.method,
        stage=test.stage,
        value_num=value if numeric else None,
        value_text=None if numeric else value,
        unit=test.measure.canonical if numeric and test.measure else None,
        spec=test.spec_text(),
        passed=test.evaluate(value),
        retest_of_id=previous.id if previous else None,
        performed_at=at,
        recorded_at=uow.now,
        recorded_by=uow.actor.id,  # type: ignore[union-attr]
    )
    reason = note or (f"retest of Q{previous.id}" if previous else None)
    result = uow.add(result, batch_id=batch.id, reason=reason)
    if not result.passed:
        open_for_oos(uow, batch, test, result, concerns=concerns)
    return result


def late_result_concerns(session: Session, batch: Batch) -> str:
    """Whom a late result on a released dose concerns: its recipient, infusion and bag's fate."""
    records = list(
        session.execute(
            select(InfusionRecord)
            .where(InfusionRecord.batch_id == batch.id)
            .order_by(InfusionRecord.id)
        ).scalars()
    )
    if not records:
        fate = "not infused yet"
    else:
        fate = "; ".join(
            f"bag {r.fate} at {iso_utc(as_utc(r.started_at))} (IR{r.id})"
            if r.fate in bedside.GIVEN and r.started_at
            else f"bag {r.fate} (IR{r.id})"
            for r in records
        )
    if batch.recipient_id is None:
        return f"{batch.code}: {fate}"
    return f"recipient {batch.recipient_id}, infusion {batch.infusion_number}: {fate}"


def _open_for(batch: Batch, test: QcTest) -> bool:
    """Whether ``test`` may be recorded on ``batch`` now: open, or released and a late result."""
    if batch.status == "released" and test.result_after_infusion:
        return True
    try:
        ensure_open(batch)
    except RuleViolation as exc:
        if batch.status != "released":
            raise
        raise RuleViolation(
            f"{exc}; only a result the SOP marks 'result after infusion' is recorded on a "
            f"released batch, and {test.id} is not one"
        ) from None
    return False


def record_qc(
    db: Database,
    actor: Actor,
    code: str,
    *,
    test: str,
    value: str,
    method: str | None = None,
    stage: str | None = None,
    at: datetime | None = None,
    deviation: str | None = None,
) -> int:
    """Record a QC result on a bank or dose batch; returns its id (shown as Q<id>).

    On a released batch only a late result is recorded, once per test: a second one of the
    same test is a retest, recorded only under ``deviation`` (``D<n>``, an open deviation of
    the batch that investigates it; :func:`_late_retest`). The batch's holds stay.
    """
    actor.require(*RECORDING_ROLES, Role.QA, action="record QC results")
    if stage is not None and stage not in STAGES:
        raise InvalidInput("--stage", f"expected in-process or release, got {stage!r}")
    if method is not None:
        method = typed_text(method, "--method", what="the QC method", one_line=True)
    with UnitOfWork(db, actor) as uow:
        batch = find_batch(uow.session, code, for_update=True)
        sop = sop_of(uow.session, batch)
        qc_test = sop.qc_test(test.strip(), stage)
        late = _open_for(batch, qc_test)
        if qc_test.test in COMPUTED_QC_TESTS:
            raise InvalidInput(
                "--test",
                f"{qc_test.id} is computed by the program from the bag's fill; "
                "correct the fill's volume or viable cells instead",
            )
        parsed = parse_result(qc_test, value)
        when = check_work_time(at or uow.now, uow.now)
        _check_performed_at(uow.session, batch, qc_test, when)
        note = "late result, after release" if late else None
        if late:
            note = _late_retest(uow.session, batch, qc_test, deviation) or note
        elif deviation is not None and deviation.strip():
            raise InvalidInput(
                "--deviation", "only the retest of a late result (after release) names a deviation"
            )
        concerns = late_result_concerns(uow.session, batch) if late else None
        result = write_result(
            uow, batch, qc_test, parsed, method=method, at=when, note=note, concerns=concerns,
        )  # fmt: skip
        if late and not result.passed:
            place_hold(
                uow,
                cause="late-result",
                reason=(
                    f"{qc_test.name} gave {value.strip()} after release (Q{result.id}, "
                    f"specification {result.spec}); {concerns}"
                ),
                batches=[batch],
            )
            _report_adverse_event(uow, batch, result, concerns or "")
        uow.commit()
        return result.id


def _late_retest(session: Session, batch: Batch, test: QcTest, deviation: str | None) -> str | None:
    """The audit note of a late retest, or None for the test's first late result.

    Decided (docs/clinic.md, "Results after infusion"): the first late result of a test is
    recorded as it comes; a second one is a **retest**, recorded only under an open deviation
    of this batch (``--deviation D<n>``: the investigation, usually the one the first
    result's failure opened), never as a silent second opinion. A result entered wrongly is
    retested the same way (the correction door is closed on a released batch). The holds stay:
    a passing retest lifts nothing, QA does (docs/holds.md).
    """
    previous = latest_result(session, batch, test)
    named = deviation.strip() if deviation else ""
    if previous is None:
        if named:
            raise InvalidInput(
                "--deviation",
                f"{test.id} has no result on {batch.code} yet: its first late result is "
                "recorded without a deviation",
            )
        return None
    first = f"Q{previous.id}"
    if not named:
        oos = session.execute(
            select(Deviation.id).where(
                Deviation.qc_result_id == previous.id, Deviation.status != "closed"
            )
        ).scalar_one_or_none()
        example = (
            f"D{oos}"
            if oos
            else f"D<n>, opened with `cellbatch deviation open {batch.code} --title TEXT "
            "--description TEXT --result " + first + "`"
        )
        raise InvalidInput(
            "--deviation",
            f"{test.id} has its late result already ({first}): a second one is a retest, "
            f"recorded under the open deviation that investigates it ({example})",
        )
    found = record_number(named, ("D",), "deviation")
    if found is None:
        raise InvalidInput("--deviation", f"expected D<number>, got {named[:20]!r}")
    row = session.get(Deviation, found[1])
    if row is None or row.batch_id != batch.id:
        raise NotFound(f"--deviation: {batch.code} has no deviation D{found[1]}")
    if row.status == "closed":
        raise RuleViolation(
            f"--deviation: D{row.id} is closed: a retest is recorded under an open investigation"
        )
    return f"late retest of {first}, under D{row.id}"


def _report_adverse_event(uow: UnitOfWork, batch: Batch, result: QcResult, concerns: str) -> None:
    """Open an adverse-event report for the recipient of a failing late result."""
    recipient = uow.session.execute(
        select(Recipient).where(Recipient.code == batch.recipient_id)
    ).scalar_one_or_none()
    if recipient is None:  # a dose made before recipients were records: the deviation names it
        return
    uow.add(
        AdverseEventReport(
            recipient_id=recipient.id,
            batch_id=batch.id,
            qc_result_id=result.id,
            description=(
                f"{result.name} of {batch.code} gave {result.value_text or result.value_num} "
                f"after release (Q{result.id}, specification {result.spec}); {concerns}. "
                "Follow up the recipient; see the batch's deviations and hold."
            )[:MAX_TEXT],
            status="open",
            opened_at=uow.now,
            opened_by=uow.actor.id,  # type: ignore[union-attr]
        ),
        batch_id=batch.id,
    )
