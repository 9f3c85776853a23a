"""A second late result of the same test is a retest (issue 12 review, finding 5): refused
without a deviation, recorded under an open deviation of the batch (named in its audit note);
the hold placed by a failing late result stays whatever the retest says."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from cellbatch.db.tables import AuditEntry, Deviation, QcResult
from cellbatch.domain.errors import InvalidInput, NotFound
from cellbatch.services.commands import qc
from cellbatch.services.queries.holds import is_held
from tests.test_bedside import user
from tests.test_late_results import released_fuc  # noqa: F401  (the fixture)
from tests.test_tui_workflows import log_in, run_async, settle, text_of

GMP = pytest.mark.requirement("GMP-29")


def results(db) -> list[QcResult]:
    """FUC-D001's sterility results."""
    from cellbatch.services.batch_access import find_batch

    with db.session() as session:
        batch = find_batch(session, "FUC-D001")
        return list(
            session.execute(
                select(QcResult)
                .where(QcResult.batch_id == batch.id, QcResult.qc_id == "sterility-release")
                .order_by(QcResult.id)
            ).scalars()
        )


def oos_deviation(db, result_id: int) -> int:
    with db.session() as session:
        return session.execute(
            select(Deviation.id).where(Deviation.qc_result_id == result_id)
        ).scalar_one()


@GMP
def test_a_second_late_result_needs_the_deviation_that_investigates_it(released_fuc, cli):  # noqa: F811
    db, tech = released_fuc, user(released_fuc, "tech1")
    first = qc.record_qc(db, tech, "FUC-D001", test="sterility-release", value="growth")
    investigation = oos_deviation(db, first)
    with pytest.raises(InvalidInput, match=rf"--deviation.*a retest.*\(D{investigation}\)"):
        qc.record_qc(db, tech, "FUC-D001", test="sterility-release", value="no growth")
    r = cli("--db", db.url, "qc", "record", "FUC-D001", "--test", "sterility-release",
            "--value", "no growth", user="tech1")  # fmt: skip
    assert r.code not in (0, 70) and "--deviation" in r.err and "Traceback" not in r.err
    with pytest.raises(NotFound, match="--deviation: FUC-D001 has no deviation D999"):
        qc.record_qc(db, tech, "FUC-D001", test="sterility-release", value="no growth",
                     deviation="D999")  # fmt: skip
    assert [r.id for r in results(db)] == [first]
    r = cli("--db", db.url, "qc", "record", "FUC-D001", "--test", "sterility-release",
            "--value", "no growth", "--deviation", f"D{investigation}", user="tech1")  # fmt: skip
    assert r.code == 0, r.err
    retest = results(db)[-1]
    assert retest.retest_of_id == first and retest.passed
    with db.session() as session:
        notes = [
            a.reason
            for a in session.execute(
                select(AuditEntry).where(
                    AuditEntry.entity == "qc_result", AuditEntry.entity_id == str(retest.id)
                )
            ).scalars()
        ]
    assert f"late retest of Q{first}, under D{investigation}" in notes, notes
    # the hold of the failing result stays: a passing retest lifts nothing, QA does
    assert [h.cause for h in is_held(db, "FUC-D001")] == ["late-result"]


@GMP
def test_a_first_late_result_takes_no_deviation(released_fuc):  # noqa: F811
    db, tech = released_fuc, user(released_fuc, "tech1")
    with pytest.raises(InvalidInput, match="--deviation.*first late result"):
        qc.record_qc(db, tech, "FUC-D001", test="sterility-release", value="no growth",
                     deviation="D1")  # fmt: skip
    assert results(db) == []


@GMP
@run_async
async def test_the_late_result_dialog_asks_for_the_deviation_of_a_retest_at_80x24(released_fuc):  # noqa: F811
    from textual.widgets import Input, Select

    from cellbatch.tui.app import build_app
    from cellbatch.tui.dialogs.qc import QcDialog

    db = released_fuc
    first = qc.record_qc(db, user(db, "tech1"), "FUC-D001", test="sterility-release",
                         value="growth")  # fmt: skip
    investigation = oos_deviation(db, first)
    app = build_app(db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "tech1")
        app.open_batch("FUC-D001")
        await settle(app, pilot)
        await pilot.press("f3")
        await settle(app, pilot)
        assert isinstance(app.screen, QcDialog)
        app.screen.query_one("#qc-test", Select).value = "sterility-release"
        app.screen.query_one("#qc-value", Input).value = "no growth"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, QcDialog)
        assert "a retest" in text_of(app, "#qc-status")
        app.screen.query_one("#qc-deviation", Input).value = f"D{investigation}"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert not isinstance(app.screen, QcDialog)
    assert [r.retest_of_id for r in results(db)] == [None, first]
