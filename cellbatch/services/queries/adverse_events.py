"""Adverse-event reports: a recipient may have been harmed (a failing result after infusion).

Opened by the program in the transaction of the information that calls for it
(``services.commands.qc``); listed for the clinic and QA (``cellbatch adverse-event list``,
their home screens); assessed and closed through ``services.commands.adverse_events``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from cellbatch.db.database import Database
from cellbatch.db.tables import AdverseEventReport, Batch, Recipient, User
from cellbatch.domain.adverse_events import GRADE_WORDS, parse_report_ref
from cellbatch.domain.errors import NotFound
from cellbatch.domain.timeparse import as_utc, iso_utc
from cellbatch.domain.users import ADVERSE_EVENT_ROLES, Actor
from cellbatch.services.queries.plain import Person, Plain


@dataclass(frozen=True)
class AdverseEventView(Plain):
    """One adverse-event report as listed."""

    ref: str
    recipient: str
    batch: str
    result: str | None
    """The QC result that called for it (``Q40``)."""
    description: str
    status: str
    opened_at: str
    opened_by: Person
    severity_grade: int | None = None
    relatedness: str | None = None
    action_taken: str | None = None
    physician_notified: str | None = None
    physician_notified_at: str | None = None
    assessed_at: str | None = None
    assessed_by: Person | None = None
    closed_at: str | None = None
    closed_by: Person | None = None
    closure: str | None = None

    @property
    def state(self) -> str:
        """``open``, ``assessed`` (open, follow-up written) or ``closed``."""
        if self.status == "open" and self.assessed_at is not None:
            return "assessed"
        return self.status

    def text(self) -> str:
        """``AE1 [OPEN] EB-P001, FUC-D001 (Q40): description``."""
        about = f"{self.batch} ({self.result})" if self.result else self.batch
        return f"{self.ref} [{self.state.upper()}] {self.recipient}, {about}: {self.description}"

    def assessment_text(self) -> str:
        """``grade 2 (moderate), possible; physician Dr … told 2026-…; action: …``."""
        if self.assessed_at is None or self.severity_grade is None:
            return "not assessed yet"
        return (
            f"grade {self.severity_grade} ({GRADE_WORDS[self.severity_grade]}), "
            f"relatedness {self.relatedness}; physician {self.physician_notified} told "
            f"{self.physician_notified_at}; action: {self.action_taken}"
        )

    def lines(self) -> list[str]:
        """The report as ``adverse-event show`` and the terminal UI print it."""
        out = [self.text(), f"  opened {self.opened_at} by {self.opened_by.shown()}"]
        out.append(f"  assessment: {self.assessment_text()}")
        if self.assessed_by is not None:
            out.append(f"  assessed {self.assessed_at} by {self.assessed_by.shown()}")
        if self.closed_by is not None:
            out.append(f"  closed {self.closed_at} by {self.closed_by.shown()}: {self.closure}")
        return out


def reports_of(session: Session, *, open_only: bool = False) -> list[AdverseEventView]:
    """Every adverse-event report (only the open ones if asked), newest first; one statement."""
    return _views(session, open_only=open_only)


def _person(user: User | None) -> Person | None:
    return None if user is None else Person(user.username, user.full_name)


def _views(
    session: Session, *, open_only: bool = False, report_id: int | None = None
) -> list[AdverseEventView]:
    assessor, closer = aliased(User), aliased(User)
    query = (
        select(AdverseEventReport, Recipient.code, Batch.code, User, assessor, closer)
        .join(Recipient, Recipient.id == AdverseEventReport.recipient_id)
        .join(Batch, Batch.id == AdverseEventReport.batch_id)
        .join(User, User.id == AdverseEventReport.opened_by)
        .outerjoin(assessor, assessor.id == AdverseEventReport.assessed_by)
        .outerjoin(closer, closer.id == AdverseEventReport.closed_by)
        .order_by(AdverseEventReport.id.desc())
    )
    if open_only:
        query = query.where(AdverseEventReport.status == "open")
    if report_id is not None:
        query = query.where(AdverseEventReport.id == report_id)
    return [
        AdverseEventView(
            ref=f"AE{r.id}",
            recipient=recipient,
            batch=batch,
            result=f"Q{r.qc_result_id}" if r.qc_result_id else None,
            description=r.description,
            status=r.status,
            opened_at=iso_utc(as_utc(r.opened_at)),
            opened_by=Person(u.username, u.full_name),
            severity_grade=r.severity_grade,
            relatedness=r.relatedness,
            action_taken=r.action_taken,
            physician_notified=r.physician_notified,
            physician_notified_at=iso_utc(as_utc(r.physician_notified_at))
            if r.physician_notified_at
            else None,
            assessed_at=iso_utc(as_utc(r.assessed_at)) if r.assessed_at else None,
            assessed_by=_person(a),
            closed_at=iso_utc(as_utc(r.closed_at)) if r.closed_at else None,
            closed_by=_person(c),
            closure=r.closure,
        )
        for r, recipient, batch, u, a, c in session.execute(query).all()
    ]


def adverse_event_reports(
    db: Database, actor: Actor, *, open_only: bool = False
) -> list[AdverseEventView]:
    """Every adverse-event report, newest first (:func:`reports_of`): the clinic's and QA's."""
    actor.require(*ADVERSE_EVENT_ROLES, action="read adverse-event reports")
    with db.session() as session:
        return reports_of(session, open_only=open_only)


def adverse_event_report(db: Database, actor: Actor, ref: str) -> AdverseEventView:
    """One report (``AE3``) with its assessment and closing: the clinic's and QA's."""
    actor.require(*ADVERSE_EVENT_ROLES, action="read adverse-event reports")
    report_id = parse_report_ref(ref)
    with db.session() as session:
        found = _views(session, report_id=report_id)
    if not found:
        raise NotFound(f"REPORT-ID: no adverse-event report AE{report_id}")
    return found[0]
