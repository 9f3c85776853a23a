"""Adverse-event follow-up (issue 12): a report (AE<n>) opened by a failing late result is
assessed by the clinic or QA (grade 1–5, relatedness, action taken, the physician told and
when) and closed by QA with a re-authenticated signature, by someone who did not assess it.
Refusals name the field and change nothing; every step is audited under the batch; the report
stays on the clinic's and QA's home screens until closed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from cellbatch.db.tables import AdverseEventReport, AuditEntry
from cellbatch.domain import adverse_events as rules
from cellbatch.domain.errors import InvalidInput, PermissionDenied, RuleViolation
from cellbatch.services.commands import qc
from cellbatch.services.commands.adverse_events import assess_report, close_report
from cellbatch.services.queries.adverse_events import adverse_event_report
from cellbatch.services.queries.batch_view import batch_view
from cellbatch.services.queries.home import home_data
from tests.test_bedside import user
from tests.test_late_results import released_fuc  # noqa: F401  (fixture)
from tests.test_tui_workflows import log_in, run_async, settle, text_of

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
OPENED = NOW - timedelta(hours=2)


def _assess(**change):
    values = dict(
        severity_grade="2", related="possible", action_taken="blood cultures, antibiotics",
        physician="Dr Ana Ortiz", notified_at=NOW - timedelta(hours=1), opened_at=OPENED,
        now=NOW,
    )  # fmt: skip
    return rules.assess(**(values | change))


# --------------------------------------------------------------------------- the rules


def test_an_assessment_takes_every_part():
    a = _assess(related="Not-Related")
    assert (a.severity_grade, a.relatedness, a.physician_notified) == (
        2, "not related", "Dr Ana Ortiz",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"severity_grade": "6"}, "--grade", "expected a severity grade from 1 to 5"),
        ({"severity_grade": ""}, "--grade", "got 'nothing'"),
        ({"severity_grade": "two"}, "--grade", "got 'two'"),
        ({"related": "maybe"}, "--relatedness", "expected one of not related, unlikely"),
        ({"action_taken": "  "}, "--action", "expected the action taken"),
        ({"physician": ""}, "--physician", "expected the name of the physician"),
        ({"physician": "Dr\nX"}, "--physician", "line break"),
        ({"notified_at": None}, "--notified-at", "expected when the physician was told"),
        ({"notified_at": NOW + timedelta(hours=1)}, "--notified-at", "not in the future"),
        ({"notified_at": OPENED - timedelta(hours=1)}, "--notified-at", "after the report"),
    ],
)
def test_an_assessment_refusal_names_its_field(change, field, words):
    with pytest.raises(InvalidInput) as info:
        _assess(**change)
    assert info.value.field == field and words in info.value.message


def test_the_physician_told_in_the_minute_the_report_opened_is_accepted():
    opened = OPENED.replace(second=40)
    assert _assess(opened_at=opened, notified_at=opened.replace(second=0)).severity_grade == 2


# --------------------------------------------------------------------------- the services


def _late_failure(db) -> str:
    qc.record_qc(db, user(db, "tech1"), "FUC-D001", test="sterility-release", value="growth")
    (report,) = [r for r in home_data(db, user(db, "qa1"), date.today()).adverse_events]
    return report.ref


def _now() -> datetime:
    return datetime.now(UTC)


def _audits(db, ref: str) -> list[AuditEntry]:
    with db.session() as s:
        return list(
            s.execute(
                select(AuditEntry)
                .where(AuditEntry.entity == "adverse_event_report")
                .where(AuditEntry.entity_id == str(int(ref[2:])))
                .order_by(AuditEntry.seq)
            ).scalars()
        )


def _stored(db, ref: str) -> AdverseEventReport:
    with db.session() as s:
        return s.get(AdverseEventReport, int(ref[2:]))


def test_the_clinic_assesses_and_qa_closes_with_a_signature(released_fuc):  # noqa: F811
    db = released_fuc
    ref = _late_failure(db)
    told = _now()
    assert assess_report(
        db, user(db, "clin1"), ref, grade=3, relatedness="probable",
        action="admitted, IV antibiotics", physician="Dr Ana Ortiz", notified_at=told,
    ) == ref  # fmt: skip
    view = adverse_event_report(db, user(db, "qa1"), ref)
    assert view.state == "assessed" and view.assessed_by.username == "clin1"
    assert (
        "grade 3 (severe), relatedness probable; physician Dr Ana Ortiz" in view.assessment_text()
    )
    # still open, so still on the home screens of the clinic and QA
    assert [r.ref for r in home_data(db, user(db, "clin1"), date.today()).adverse_events] == [ref]
    assert close_report(db, "qa1", "demo-qa1-pass", ref, reason="recipient recovered") == ref
    view = adverse_event_report(db, user(db, "clin1"), ref)
    assert view.state == "closed" and view.closed_by.username == "qa1"
    assert view.closure == "recipient recovered"
    for who in ("clin1", "qa1"):
        assert home_data(db, user(db, who), date.today()).adverse_events == ()
    # the closing is QA's signature on the batch's record, valid, named AE<n>
    (sig,) = [s for s in batch_view(db, "FUC-D001").signatures if s.on == ref]
    assert (sig.meaning, sig.username, sig.valid) == ("approved", "qa1", True)
    # every change audited, with who did it
    fields = [(a.field, a.action) for a in _audits(db, ref)]
    for name in (*rules.ASSESSMENT_FIELDS, "assessed_by", "closed_by", "status"):
        assert any(f == name for f, _ in fields), name
    assert ("status", "close") in fields
    # closed is final
    with pytest.raises(RuleViolation, match="is closed"):
        assess_report(
            db, user(db, "clin1"), ref, grade=1, relatedness="unlikely", action="x",
            physician="Dr B", notified_at=_now(), reason="second thoughts",
        )  # fmt: skip


def test_a_revised_assessment_needs_a_reason_and_the_assessor_does_not_close(
    released_fuc,  # noqa: F811
):
    db = released_fuc
    ref = _late_failure(db)
    qa1 = user(db, "qa1")
    args = dict(relatedness="possible", action="observed", physician="Dr Ana Ortiz")
    assess_report(db, qa1, ref, grade=2, notified_at=_now(), **args)
    before = _stored(db, ref)
    with pytest.raises(InvalidInput) as info:
        assess_report(db, qa1, ref, grade=3, notified_at=_now(), **args)
    assert info.value.field == "--reason"
    assert _stored(db, ref).severity_grade == before.severity_grade == 2  # nothing changed
    assess_report(
        db, qa1, ref, grade=3, notified_at=before.physician_notified_at, reason="fever rose", **args
    )
    assert _stored(db, ref).severity_grade == 3
    with pytest.raises(PermissionDenied, match="qa1 assessed AE1"):
        close_report(db, "qa1", "demo-qa1-pass", ref, reason="done")
    assert close_report(db, "qa2", "demo-qa2-pass", ref, reason="done") == ref


def test_an_unassessed_report_is_not_closed_and_only_qa_closes(released_fuc):  # noqa: F811
    db = released_fuc
    ref = _late_failure(db)
    with pytest.raises(RuleViolation, match="before it is assessed"):
        close_report(db, "qa1", "demo-qa1-pass", ref, reason="nothing to follow")
    with pytest.raises(InvalidInput) as info:
        close_report(db, "qa1", "demo-qa1-pass", ref, reason=" ")
    assert info.value.field == "--reason"
    assess_report(
        db, user(db, "clin1"), ref, grade=1, relatedness="unlikely", action="observed",
        physician="Dr Ana Ortiz", notified_at=_now(),
    )  # fmt: skip
    with pytest.raises(PermissionDenied):
        close_report(db, "clin1", "demo-clin1-pass", ref, reason="recovered")
    with pytest.raises(PermissionDenied):
        assess_report(
            db, user(db, "tech1"), ref, grade=1, relatedness="unlikely", action="x",
            physician="Dr B", notified_at=_now(), reason="r",
        )  # fmt: skip
    assert _stored(db, ref).status == "open"


# --------------------------------------------------------------------------- the CLI


def test_the_cli_assesses_shows_and_closes(released_fuc, cli):  # noqa: F811
    db = released_fuc
    ref = _late_failure(db)
    told = f"{_now():%Y-%m-%d %H:%M}Z"
    bad = cli("--db", db.url, "adverse-event", "assess", ref, "--grade", "7",
              "--relatedness", "possible", "--action", "observed", "--physician", "Dr Ana Ortiz",
              "--notified-at", told, user="clin1")  # fmt: skip
    assert bad.code not in (0, 70) and "--grade" in bad.err and "1 to 5" in bad.err
    assert _stored(db, ref).assessed_at is None
    missing = cli("--db", db.url, "adverse-event", "assess", ref, "--grade", "2",
                  "--relatedness", "possible", "--action", "observed",
                  "--notified-at", told, user="clin1")  # fmt: skip
    assert missing.code not in (0, 70) and "--physician" in missing.err
    ok = cli("--db", db.url, "adverse-event", "assess", ref, "--grade", "2",
             "--relatedness", "possible", "--action", "observed", "--physician", "Dr Ana Ortiz",
             "--notified-at", told, user="clin1")  # fmt: skip
    assert ok.code == 0 and f"{ref} assessed by clin1" in ok.out, ok.err
    shown = cli("--db", db.url, "adverse-event", "show", ref, user="qa1")
    assert shown.code == 0 and "[ASSESSED]" in shown.out and "Dr Ana Ortiz" in shown.out
    closed = cli("--db", db.url, "adverse-event", "close", ref, "--reason", "recovered",
                 user="qa1")  # fmt: skip
    assert closed.code == 0 and f"{ref} closed and signed by qa1" in closed.out, closed.err
    import json

    data = json.loads(cli("--db", db.url, "adverse-event", "show", ref, "--json", user="clin1").out)
    assert data["state"] == "closed" and data["closed_by"]["username"] == "qa1"
    assert data["severity_grade"] == 2 and data["physician_notified"] == "Dr Ana Ortiz"
    nobody = cli("--db", db.url, "adverse-event", "show", "AE99", user="qa1")
    assert nobody.code not in (0, 70) and "no adverse-event report AE99" in nobody.err


# --------------------------------------------------------------------------- the terminal UI


@run_async
async def test_the_clinic_assesses_and_qa_closes_from_the_home_screen_at_80x24(
    released_fuc,  # noqa: F811
):
    from textual.widgets import Input, Select

    from cellbatch.tui.app import build_app

    db = released_fuc
    ref = _late_failure(db)
    app = build_app(db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "clin1")
        table = app.screen.query_one("#adverse")
        table.focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "AdverseEventScreen"
        assert "not assessed yet" in text_of(app, "#ae-text")
        assert not app.screen.check_action("close_report", ())  # QA's
        await pilot.press("f5")
        await settle(app, pilot)
        form = app.screen
        assert type(form).__name__ == "FormDialog"
        form.query_one("#form-grade", Select).value = "2"
        form.query_one("#form-relatedness", Select).value = "possible"
        form.query_one("#form-action", Input).value = "observed"
        form.query_one("#form-physician", Input).value = "Dr Ana Ortiz"
        # a time before the report opened: refused, the form names its field, keeps the values
        form.query_one("#form-notified_at", Input).value = "2026-01-01 10:00Z"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is form
        assert "Told at:" in text_of(app, "#dialog-status")
        assert form.query_one("#form-physician", Input).value == "Dr Ana Ortiz"
        form.query_one("#form-notified_at", Input).value = f"{_now():%Y-%m-%d %H:%M}Z"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "AdverseEventScreen"
        assert "grade 2 (moderate)" in text_of(app, "#ae-text")
    assert _stored(db, ref).assessed_at is not None

    app = build_app(db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "qa1")
        table = app.screen.query_one("#adverse")
        assert "[ASSESSED]" in str(table.get_row_at(0)[3])
        table.focus()
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.press("f6")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "SignatureDialog"
        await pilot.press(*"recovered", "enter", *"demo-qa1-pass", "enter")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "AdverseEventScreen"
        assert "closed" in text_of(app, "#ae-text") and "recovered" in text_of(app, "#ae-text")
        await pilot.press("escape")
        await settle(app, pilot)
        assert app.screen.query_one("#adverse").display is False  # off the home screen
    assert _stored(db, ref).status == "closed"
