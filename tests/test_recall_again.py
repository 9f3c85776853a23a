"""Recalling again (issue 12, found by the hostile re-test): a second recall of the same
origin opened a second hold and a second adverse-event report for a bag already reported.

Decided (docs/clinic.md, "Look-back and recall"): an origin recalled under a hold still open
is refused, nothing written; a recall from another origin reaching an infused bag whose recall
report is open names that report and opens none (it still places its own hold); a closed
report does not stop a new one.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from cellbatch.db.tables import AdverseEventReport, AuditEntry, HeldBatch, ProductHold
from cellbatch.domain.errors import RuleViolation
from cellbatch.services.auth import authenticate
from cellbatch.services.commands import holds
from cellbatch.services.commands.adverse_events import assess_report, close_report
from cellbatch.services.commands.recall import recall
from cellbatch.services.queries.holds import hold_view, is_held
from tests.test_holds import close
from tests.test_tui_workflows import log_in, run_async, settle, text_of

GMP31 = pytest.mark.requirement("GMP-31")

RECALL = ("recall", "bank", "EASC-B001", "--reason", "supplier notice")
"""The demo's bank made RA-P002's EASC-D000 (infused six days ago) and RA-P001's EASC-D001."""


def counts(db) -> tuple[int, int, int, int]:
    """Holds, held batches, adverse-event reports, audit entries."""
    with db.session() as s:
        return tuple(  # type: ignore[return-value]
            s.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (ProductHold, HeldBatch, AdverseEventReport, AuditEntry)
        )


def reports(db) -> list[tuple[int, str, int | None]]:
    with db.session() as s:
        return [
            (r.id, r.status, r.hold_id)
            for r in s.execute(select(AdverseEventReport).order_by(AdverseEventReport.id)).scalars()
        ]


@GMP31
def test_a_second_recall_of_the_same_origin_is_refused_while_its_hold_is_open(demo_db, cli):
    first = cli("--db", demo_db.url, *RECALL, user="qa1")
    assert first.code == 0 and "recall: hold H1 on" in first.out, first.err
    assert "adverse-event report opened: AE1: RA-P002, EASC-D000 bag 1" in first.out
    d000 = [b for b in hold_view(demo_db, "H1").items if b.batch == "EASC-D000"][0]
    before = counts(demo_db)
    again = cli("--db", demo_db.url, *RECALL, user="qa2")
    assert again.code == 4, (again.out, again.err)  # a refusal by rule, not exit 70
    assert again.err.startswith(
        "error: bank EASC-B001 is already recalled under a hold still open: hold H1"
    ), again.err
    assert f"EASC-D000 (deviation {d000.deviation})" in again.err
    assert "Nothing was written" in again.err and "cellbatch hold show H1" in again.err
    assert counts(demo_db) == before  # no hold, no report, no audit entry
    assert [h.hold for h in is_held(demo_db, "EASC-D000")] == ["H1"]
    assert reports(demo_db) == [(1, "open", 1)]
    # the same origin named another way is the same origin
    with pytest.raises(RuleViolation, match="bank EASC-B001 is already recalled"):
        recall(demo_db, "qa1", "demo-qa1-pass", "bank", " easc-b001 ", reason="again")


@GMP31
def test_once_the_recall_hold_is_lifted_the_origin_may_be_recalled_again(demo_db):
    done = recall(demo_db, "qa1", "demo-qa1-pass", "bank", "EASC-B001", reason="notice")
    for held in hold_view(demo_db, done.hold).items:
        close(demo_db, held.deviation)
    holds.lift_hold(demo_db, "qa2", "demo-qa2-pass", "H1", reason="ok", batch="EASC-B001")
    with pytest.raises(RuleViolation, match=r"hold H1 \(placed .* by qa1\) on EASC-D001 "):
        recall(demo_db, "qa1", "demo-qa1-pass", "bank", "EASC-B001", reason="again")  # 2 held
    # each batch's hold is lifted by a QA officer not involved in it (demo: qa2 verified
    # EASC-D001's entries)
    for code, who in (("EASC-D001", "qa1"), ("EASC-D000", "qa2")):
        holds.lift_hold(demo_db, who, f"demo-{who}-pass", "H1", reason="ok", batch=code)
    again = recall(demo_db, "qa1", "demo-qa1-pass", "bank", "EASC-B001", reason="again")
    assert again.hold == "H2"
    # AE1 (opened by the first recall) is still open: the second names it, opens none
    assert again.adverse_events == []
    assert again.adverse_events_open == [
        "adverse-event report AE1 stays open for RA-P002, EASC-D000 bag 1"
    ]


@GMP31
def test_a_recall_from_another_origin_names_the_open_report_and_opens_none(demo_db, cli):
    cli("--db", demo_db.url, *RECALL, user="qa1")
    before = reports(demo_db)
    # the demo's wash solution lot was used for EASC-B001 and its doses, and another bank
    r = cli("--db", demo_db.url, "recall", "material-lot", "DPBS-88812", "--reason",
            "wash solution recalled", "--json", user="qa1")  # fmt: skip
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["adverse_events"] == []
    line = "adverse-event report AE1 stays open for RA-P002, EASC-D000 bag 1"
    assert data["adverse_events_open"] == [line]
    assert reports(demo_db) == before  # no second report for the bag
    # its own hold on everything it reaches, held already or not (each with its deviation)
    assert data["hold"] == "H2" and "EASC-D000" in data["held"] and "BMMSC-B001" in data["held"]
    assert [h.hold for h in is_held(demo_db, "EASC-D000")] == ["H1", "H2"]
    # the recall's record names the report: the hold's reason, so each deviation it opened
    view = hold_view(demo_db, "H2")
    assert view.reason == f"recall from material lot DPBS-88812: wash solution recalled; {line}"
    d000 = [b for b in view.items if b.batch == "EASC-D000"][0].deviation
    listed = cli("--db", demo_db.url, "deviation", "list", "--batch", "EASC-D000", "--json",
                 user="qa1")  # fmt: skip
    [opened] = [d for d in json.loads(listed.out) if d["id"] == d000]
    assert line in opened["description"], opened
    # and a donor recall (a third origin) prints it as text too
    r = cli("--db", demo_db.url, "recall", "donor", "DN-2026-0001", "--reason", "donor notice",
            user="qa1")  # fmt: skip
    assert r.code == 0 and line in r.out and "adverse-event report opened" not in r.out, r.out


@GMP31
def test_a_closed_recall_report_does_not_stop_a_new_one(demo_db):
    recall(demo_db, "qa1", "demo-qa1-pass", "bank", "EASC-B001", reason="supplier notice")
    from datetime import UTC, datetime

    assess_report(
        demo_db, authenticate(demo_db, "clin1", "demo-clin1-pass"), "AE1", grade=1,
        relatedness="unlikely", action="observed", physician="Dr Ana Ortiz",
        notified_at=datetime.now(UTC),
    )  # fmt: skip
    close_report(demo_db, "qa1", "demo-qa1-pass", "AE1", reason="recipient well")
    done = recall(demo_db, "qa1", "demo-qa1-pass", "material-lot", "DPBS-88812", reason="wash")
    assert done.adverse_events_open == []
    assert [a.split(":")[0] for a in done.adverse_events] == ["AE2"]
    assert reports(demo_db) == [(1, "closed", 1), (2, "open", 2)]


@GMP31
@run_async
async def test_recalling_again_on_the_look_back_screen_at_80x24(demo_db):
    from textual.widgets import Input

    from cellbatch.tui.app import build_app

    recall(demo_db, "qa1", "demo-qa1-pass", "bank", "EASC-B001", reason="supplier notice")
    before = counts(demo_db)
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await log_in(app, pilot, "qa2")
        await pilot.press("f11")
        await settle(app, pilot)

        async def recall_shown(origin: str) -> None:
            app.screen.query_one("#lookback-ref", Input).value = origin
            app.screen.query_one("#lookback-ref", Input).focus()
            await pilot.press("enter")
            await settle(app, pilot)
            await pilot.press("f5")
            await settle(app, pilot)
            app.screen.query_one("#sig-reason", Input).value = "found again"
            app.screen.query_one("#sig-password", Input).value = "demo-qa2-pass"
            await pilot.press("ctrl+s")
            await settle(app, pilot)

        await recall_shown("bank EASC-B001")
        [refusal] = [n.message for n in app._notifications]
        assert refusal.startswith("bank EASC-B001 is already recalled under a hold still open")
        [toast] = app.screen.query("Toast")  # the whole refusal on screen, not cut at 24 rows
        assert toast.region.bottom <= 23 and "lifted from every batch" in str(toast.render())
        assert "RECALLED" not in text_of(app, "#lookback-result")
        assert counts(demo_db) == before
        await recall_shown("material-lot DPBS-88812")
        shown = text_of(app, "#lookback-result")
        assert "RECALLED: hold H2 on" in shown
        assert "Adverse-event report AE1 stays open for RA-P002, EASC-D000 bag 1" in shown
        assert "Adverse-event report AE2" not in shown
    assert [r[0] for r in reports(demo_db)] == [1]


@GMP31
def test_the_migration_fills_in_recalls_made_before_it(demo_db):
    from sqlalchemy import text

    from cellbatch.db import migrate
    from cellbatch.services.queries.audit import verify_trail

    recall(demo_db, "qa1", "demo-qa1-pass", "bank", "EASC-B001",
           reason="x (y): EASC-D001 bag 9 was")  # fmt: skip  # a reason that looks like a bag
    migrate.downgrade(demo_db.engine, "c89cce8dbb38-1")  # the schema before the columns
    assert demo_db.ensure_schema(upgrade=True) == "upgraded"
    with demo_db.engine.connect() as conn:
        assert conn.execute(text("SELECT origin FROM product_hold")).scalar_one() == (
            "bank EASC-B001"
        )
        hold_id, bag = conn.execute(
            text(
                "SELECT r.hold_id, b.number FROM adverse_event_report r JOIN bag b "
                "ON b.id = r.bag_id JOIN batch ON batch.id = b.batch_id "
                "WHERE batch.code = 'EASC-D000'"
            )
        ).one()
    assert (hold_id, bag) == (1, 1)
    assert verify_trail(demo_db).ok
    with pytest.raises(RuleViolation, match="already recalled"):
        recall(demo_db, "qa1", "demo-qa1-pass", "bank", "EASC-B001", reason="again")
    done = recall(demo_db, "qa1", "demo-qa1-pass", "donor", "DN-2026-0001", reason="donor")
    assert done.adverse_events == [] and len(done.adverse_events_open) == 1
