"""Adverse-event follow-up: the clinic or QA assesses a report, QA closes it with a signature.

The rules are :mod:`cellbatch.domain.adverse_events`; every door (CLI, terminal UI) calls these
two functions. Each write is one transaction with its audit entries, filed under the report's
batch (they show in the batch's audit trail).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from cellbatch.db.database import Database
from cellbatch.db.tables import AdverseEventReport, Batch
from cellbatch.domain import adverse_events as rules
from cellbatch.domain.errors import InvalidInput, NotFound
from cellbatch.domain.text import typed_text
from cellbatch.domain.users import ADVERSE_EVENT_ROLES, Actor, Role
from cellbatch.services.auth import reauthenticate
from cellbatch.services.commands.signatures import add_signature
from cellbatch.services.queries.involvement import same_person
from cellbatch.services.unit_of_work import UnitOfWork


def _locked_report(uow: UnitOfWork, report_id: int) -> tuple[AdverseEventReport, Batch]:
    report = uow.session.execute(
        select(AdverseEventReport).where(AdverseEventReport.id == report_id).with_for_update()
    ).scalar_one_or_none()
    if report is None:
        raise NotFound(f"REPORT-ID: no adverse-event report AE{report_id}")
    batch = uow.session.get(Batch, report.batch_id)
    assert batch is not None
    return report, batch


def assess_report(
    db: Database,
    actor: Actor,
    ref: str,
    *,
    grade: int | str | None,
    relatedness: str | None,
    action: str | None,
    physician: str | None,
    notified_at: datetime | None,
    reason: str | None = None,
) -> str:
    """Record (or revise, with ``reason``) the assessment of an open report; returns ``AE<n>``."""
    actor.require(*ADVERSE_EVENT_ROLES, action="assess adverse-event reports")
    report_id = rules.parse_report_ref(ref)
    why = typed_text(reason, "--reason", what="why it changes") if (reason or "").strip() else None
    with UnitOfWork(db, actor) as uow:
        report, batch = _locked_report(uow, report_id)
        shown = f"AE{report.id}"
        rules.ensure_open(shown, report.status)
        assessment = rules.assess(
            severity_grade=grade,
            related=relatedness,
            action_taken=action,
            physician=physician,
            notified_at=notified_at,
            opened_at=report.opened_at,
            now=uow.now,
        )
        if report.assessed_at is not None and why is None:
            raise InvalidInput("--reason", f"{shown} is assessed already: say why it changes")
        changed = False
        for name, value in assessment.values().items():
            if getattr(report, name) == value:
                continue
            changed = True
            uow.change(report, name, value, reason=why or "assessment recorded", batch_id=batch.id)
        if not changed:
            raise InvalidInput("--grade", f"{shown} is assessed with these values already")
        uow.change(report, "assessed_at", uow.now, reason=why or "assessed", batch_id=batch.id)
        uow.change(report, "assessed_by", actor.id, reason=why or "assessed", batch_id=batch.id)
        uow.commit()
        return shown


def close_report(db: Database, username: str, password: str, ref: str, *, reason: str) -> str:
    """QA closes an assessed report with an ``approved`` signature; returns ``AE<n>``.

    Like closing a deviation: re-authenticated, by a QA officer who did not write the
    assessment (under any of their accounts), with the basis of the closure.
    """
    report_id = rules.parse_report_ref(ref)
    if not (reason or "").strip():
        raise InvalidInput("--reason", "expected the basis of the closure (the follow-up done)")
    why = typed_text(reason, "--reason", what="the basis of the closure")
    signer = reauthenticate(db, username, password)
    signer.require(Role.QA, action="close adverse-event reports")
    with UnitOfWork(db, signer) as uow:
        report, batch = _locked_report(uow, report_id)
        shown = f"AE{report.id}"
        rules.ensure_closable(
            shown,
            status=report.status,
            assessed=report.assessed_at is not None,
            by_assessor=report.assessed_by is not None
            and report.assessed_by in same_person(uow.session, signer.id),
            signer=signer.username,
        )
        for name, value in (
            ("closure", why),
            ("closed_at", uow.now),
            ("closed_by", signer.id),
            ("status", "closed"),
        ):
            uow.change(report, name, value, reason=why, batch_id=batch.id, action="close")
        add_signature(uow, signer, batch, "adverse_event_report", report.id, "approved")
        uow.commit()
        return shown
