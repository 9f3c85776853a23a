"""Treatment plans: the SOP's days from day 1, the cohort's dose, make-by times; a dose batch
takes the plan's next infusion and is refused when it disagrees with the plan."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest

from cellbatch.domain.errors import InvalidInput, NotFound, PermissionDenied, RuleViolation
from cellbatch.services.auth import authenticate
from cellbatch.services.commands import batches
from cellbatch.services.commands.plans import create_plan, move_infusion
from cellbatch.services.commands.recipients import register_recipient
from cellbatch.services.queries.batch_view import batch_view
from cellbatch.services.queries.plans import due_today, plan_view
from tests.lab import snapshot
from tests.test_tui_workflows import log_in, run_async, settle, text_of


def user(db, name: str):
    return authenticate(db, name, f"demo-{name}-pass")


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def test_the_easc_plan_shows_days_1_8_15_with_dates_make_by_times_and_what_is_done(demo_db):
    view = plan_view(demo_db, "RA-P001")
    assert (view.sop, view.dose_per_kg, view.cohort) == ("SOP-EASC-DOSE", "2 ×10⁶ cells/kg", 2)
    days = [(i.number, i.day) for i in view.infusions]
    assert days == [(1, 1), (2, 8), (3, 15)]
    first = at(view.infusions[0].planned_at)
    for i in view.infusions:
        planned = at(i.planned_at)
        assert planned - first == timedelta(days=i.day - 1)
        # the bag is ready an hour before; it expires 4 h after the fill, which follows the
        # thaw within 3 h: thawed no earlier than 7 h before the infusion
        assert at(i.fill_by) == planned - timedelta(hours=1)
        assert at(i.thaw_from) == planned - timedelta(hours=7)
    assert [(i.batch, i.state) for i in view.infusions] == [
        ("EASC-D001", "in production (in-process)"), (None, "planned"), (None, "planned"),
    ]  # fmt: skip
    assert [i.window for i in view.infusions] == ["day fixed", "± 1 d", "± 1 d"]


def test_a_dose_batch_takes_the_plans_next_infusion_and_dose(demo_db):
    code = batches.start_dose(
        demo_db, user(demo_db, "tech1"), "EASC-D002", parent="EASC-B001",
        sop_id="SOP-EASC-DOSE", recipient="RA-P001",
    )  # fmt: skip
    view = batch_view(demo_db, code).to_dict()
    assert view["infusion_number"] == 2 and view["infusion_day"] == 8
    assert plan_view(demo_db, "RA-P001").infusions[1].batch == "EASC-D002"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"dose": "4 x 10^6 cells/kg"}, InvalidInput, "--dose: 4 ×10⁶ cells/kg disagrees with"),
        ({"infusion": 3}, InvalidInput, "--infusion: RA-P001's next planned infusion is 2"),
        ({"infusion": 1}, InvalidInput, "--infusion: RA-P001's next planned infusion is 2"),
        ({"sop_id": "SOP-FUC-BMMSC-DOSE"}, RuleViolation, "makes doses from banks of"),
    ],
)
def test_a_dose_or_infusion_that_disagrees_with_the_plan_is_refused(
    demo_db, kwargs, error, message
):
    values = {"parent": "EASC-B001", "sop_id": "SOP-EASC-DOSE", "recipient": "RA-P001"}
    values.update(kwargs)
    before = snapshot(demo_db)
    with pytest.raises(error, match=message):
        batches.start_dose(demo_db, user(demo_db, "tech1"), "EASC-D009", **values)
    assert snapshot(demo_db) == before


def test_a_recipient_without_a_plan_gets_no_dose(demo_db):
    clin1 = user(demo_db, "clin1")
    register_recipient(demo_db, clin1, "RA-P003", trial="EASC-RA", cohort=1, weight="80 kg",
                       weighed_on=date.today())  # fmt: skip
    with pytest.raises(NotFound, match="--recipient: RA-P003 has no treatment plan"):
        batches.start_dose(
            demo_db, user(demo_db, "tech1"), "EASC-D009", parent="EASC-B001",
            sop_id="SOP-EASC-DOSE", recipient="RA-P003", dose="1 x 10^6 cells/kg", infusion=1,
        )  # fmt: skip
    with pytest.raises(PermissionDenied, match="needs role clinic"):
        create_plan(demo_db, user(demo_db, "tech1"), "RA-P003", sop_id="SOP-EASC-DOSE",
                    first_infusion=datetime.now().astimezone())  # fmt: skip
    with pytest.raises(InvalidInput, match="--dose: 2 ×10⁶ cells/kg is not the dose of RA-P003"):
        create_plan(demo_db, clin1, "RA-P003", sop_id="SOP-EASC-DOSE",
                    first_infusion=datetime.now().astimezone(), dose="2e6 cells/kg")  # fmt: skip
    with pytest.raises(RuleViolation, match="RA-P001 has a treatment plan already"):
        create_plan(demo_db, clin1, "RA-P001", sop_id="SOP-EASC-DOSE",
                    first_infusion=datetime.now().astimezone())  # fmt: skip
    create_plan(demo_db, clin1, "RA-P003", sop_id="SOP-EASC-DOSE",
                first_infusion=datetime.now().astimezone() + timedelta(days=2))  # fmt: skip
    assert plan_view(demo_db, "RA-P003").dose_per_kg == "1 ×10⁶ cells/kg"


def test_an_infusion_moves_only_within_the_plans_window_until_its_dose_is_started(demo_db):
    clin1 = user(demo_db, "clin1")
    planned = at(plan_view(demo_db, "RA-P001").infusions[1].planned_at)
    moved = move_infusion(demo_db, clin1, "RA-P001", 2, planned + timedelta(days=1),
                          reason="patient's appointment moved")  # fmt: skip
    assert at(plan_view(demo_db, "RA-P001").infusions[1].planned_at) == moved
    with pytest.raises(InvalidInput, match="--at: infusion 2 is planned for day 8 .* ± 1 day"):
        move_infusion(demo_db, clin1, "RA-P001", 2, planned + timedelta(days=2), reason="x")
    with pytest.raises(InvalidInput, match="day 1 is fixed"):
        move_infusion(demo_db, clin1, "RA-P002", 1, planned + timedelta(days=1), reason="x")
    with pytest.raises(RuleViolation, match="the dose for infusion 1 is in production"):
        move_infusion(demo_db, clin1, "RA-P001", 1, planned, reason="x")


def test_what_must_be_made_today(demo_db):
    """Due on a day: the thaw window opens by then and the infusion is not on an earlier day.

    The demo's infusions are timed from the clock (about three hours ahead), so whether a
    later day-1 infusion's thaw window opens the evening before depends on the hour: the
    test holds for any hour.
    """
    today = at(plan_view(demo_db, "RA-P001").infusions[0].planned_at).date()
    due = due_today(demo_db, today)
    got = [(d.recipient, d.infusion, d.batch) for d in due]
    assert ("RA-P001", 1, "EASC-D001") in got and ("EB-P001", 1, "FUC-D001") in got
    for d in due:
        assert d.thaw_from.date() <= today <= d.planned_at.date(), d
    assert [d.fill_by for d in due] == sorted(d.fill_by for d in due)
    later = at(plan_view(demo_db, "RA-P002").infusions[0].planned_at)
    assert later.date() > today
    on_its_day = [(d.recipient, d.infusion) for d in due_today(demo_db, later.date())]
    assert ("RA-P002", 1) in on_its_day and ("RA-P001", 1) not in on_its_day
    assert ("RA-P002", 1) not in [
        (d.recipient, d.infusion) for d in due_today(demo_db, today - timedelta(days=1))
    ]


def test_plan_commands(cli, demo_db):
    url = demo_db.url
    r = cli("--db", url, "plan", "show", "RA-P001", user="tech1")
    assert r.code == 0 and "day 8" in r.out and "day 15" in r.out and "EASC-D001" in r.out
    r = cli("--db", url, "plan", "show", "EB-P001", "--json", user="qa1")
    assert [i["day"] for i in json.loads(r.out)["infusions"]] == [1, 15, 29]
    r = cli("--db", url, "plan", "create", "RA-P002", "--sop", "SOP-EASC-DOSE",
            "--first", "2026-13-01 10:00", user="clin1")  # fmt: skip
    assert r.code == 2 and "--first" in r.err
    r = cli("--db", url, "plan", "today", user="tech1")
    assert r.code == 0
    r = cli("--db", url, "batch", "start", "EASC-D002", "--parent", "EASC-B001", "--sop",
            "SOP-EASC-DOSE", "--recipient", "RA-P001", "--infusion", "3", user="tech1")  # fmt: skip
    assert r.code == 2 and "--infusion: RA-P001's next planned infusion is 2" in r.err


@run_async
async def test_home_shows_what_to_make_today_and_the_plan_screen_at_80x24(demo_db):
    from textual.widgets import DataTable

    from cellbatch.tui.app import build_app

    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "tech1")
        table = app.screen.query_one("#make-today", DataTable)
        rows = {str(table.get_row_at(i)[0]) for i in range(table.row_count)}
        due = due_today(demo_db, app.clock().date())
        assert {"RA-P001", "EB-P001"} <= rows == {d.recipient for d in due}
        await pilot.press("f10")
        await settle(app, pilot)
        await pilot.press("down", "f8")  # RA-P001
        await settle(app, pilot)
        shown = text_of(app, "#recipient-detail")
        assert "#1 day  1" in shown and "#2 day  8" in shown and "#3 day 15" in shown
        assert "EASC-D001" in shown and shown.count("planned") == 2
