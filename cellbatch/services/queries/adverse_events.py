"""Adverse-event reports: a recipient may have been harmed (a failing result after infusion).

Opened by the program in the transaction of the information that calls for it
(``services.commands.qc``); listed for the clinic and QA (``cellbatch adverse-event list``,
their home screens).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session

from cellbatch.db.database import Database
from cellbatch.db.tables import AdverseEventReport, Batch, Recipient, User
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

    def text(self) -> str:
        """``AE1 [OPEN] EB-P001, FUC-D001 (Q40): description``."""
        about = f"{self.batch} ({self.result})" if self.result else self.batch
        return f"{self.ref} [{self.status.upper()}] {self.recipient}, {about}: {self.description}"


def reports_of(session: Session, *, open_only: bool = False) -> list[AdverseEventView]:
    """Every adverse-event report (only the open ones if asked), newest first; one statement."""
    query = (
        select(AdverseEventReport, Recipient.code, Batch.code, User)
        .join(Recipient, Recipient.id == AdverseEventReport.recipient_id)
        .join(Batch, Batch.id == AdverseEventReport.batch_id)
        .join(User, User.id == AdverseEventReport.opened_by)
        .order_by(AdverseEventReport.id.desc())
    )
    if open_only:
        query = query.where(AdverseEventReport.status == "open")
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
        )
        for r, recipient, batch, u in session.execute(query).all()
    ]


def adverse_event_reports(
    db: Database, actor: Actor, *, open_only: bool = False
) -> list[AdverseEventView]:
    """Every adverse-event report, newest first (:func:`reports_of`): the clinic's and QA's."""
    actor.require(*ADVERSE_EVENT_ROLES, action="read adverse-event reports")
    with db.session() as session:
        return reports_of(session, open_only=open_only)
