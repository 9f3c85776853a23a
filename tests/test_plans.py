"""Treatment plans: the SOP's days from day 1, the cohort's dose, make-by times; a dose batch
takes the plan's next infusion and is refused when it disagrees with the plan."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from cellbatch.domain.errors import InvalidInput, NotFound, PermissionDenied, RuleViolation
from cellbatch.services.auth import authenticate
from cellbatch.services.commands import batches
from cellbatch.services.commands.plans import create_plan, move_infusion
from cellbatch.services.commands.recipients import register_recipient
from cellbatch.services.queries.batch_view import batch_view
from cellbatch.services.queries.plans import due_today, plan_view
from cellbatch.services.queries.review import review
from tests.lab import snapshot
from tests.test_tui_workflows import log_in, run_async, settle, text_of

GMP30 = pytest.mark.requirement("GMP-30")


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
    register_recipient(demo_db, clin1, "RA-P003", trial="EASC-RA", cohort=1, weight="80 kg",
                       weighed_on=date.today())  # fmt: skip
    create_plan(demo_db, clin1, "RA-P003", sop_id="SOP-EASC-DOSE", first_infusion=planned)
    with pytest.raises(InvalidInput, match="day 1 is fixed"):
        move_infusion(demo_db, clin1, "RA-P003", 1, planned + timedelta(days=1), reason="x")
    with pytest.raises(RuleViolation, match="the dose for infusion 1 is in production"):
        move_infusion(demo_db, clin1, "RA-P002", 1, planned, reason="x")  # given six days ago
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
    # RA-P002's day 1 was given six days ago (its dose released: never due again); day 8 is
    # the day after today's day 1
    given, later = (at(i.planned_at) for i in plan_view(demo_db, "RA-P002").infusions[:2])
    assert later.date() == today + timedelta(days=1)
    on_its_day = [(d.recipient, d.infusion) for d in due_today(demo_db, later.date())]
    assert ("RA-P002", 2) in on_its_day and ("RA-P001", 1) not in on_its_day
    assert ("RA-P002", 2) not in [
        (d.recipient, d.infusion) for d in due_today(demo_db, today - timedelta(days=1))
    ]
    assert ("RA-P002", 1) not in [
        (d.recipient, d.infusion) for d in due_today(demo_db, given.date())
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


def _given_day_one_and_planned_days(infusions: list[dict], today_day_one: datetime) -> None:
    """RA-P002's plan (as JSON): day 1 given six days before the demo's day 1 of today, its
    batch released and infused; days 8 and 15 planned from it, with their make-by times."""
    one, eight, fifteen = infusions
    assert [(i["number"], i["day"]) for i in infusions] == [(1, 1), (2, 8), (3, 15)]
    day_one = at(one["planned_at"])
    assert day_one == today_day_one - timedelta(days=6)  # so day 8 is the day after
    assert (one["batch"], one["batch_status"], one["state"]) == ("EASC-D000", "released", "given")
    assert one["done"] and one["fate"] == "infused" and one["infusion_record"].startswith("IR")
    assert at(one["infused_from"]) == day_one and at(one["infused_to"]) == day_one + timedelta(
        minutes=30
    )
    assert at(one["infused_to"]) < datetime.now(UTC)
    for i in (eight, fifteen):
        planned = at(i["planned_at"])
        assert planned == day_one + timedelta(days=i["day"] - 1) and planned > datetime.now(UTC)
        assert (i["batch"], i["state"], i["done"], i["infusion_record"]) == (
            None, "planned", False, None,
        )  # fmt: skip
        assert at(i["thaw_from"]) == planned - timedelta(hours=7)
        assert at(i["fill_by"]) == planned - timedelta(hours=1)
        assert i["window"] == "± 1 d"
    assert at(eight["planned_at"]) == today_day_one + timedelta(days=1)


@GMP30
def test_the_demos_ra_p002_plan_shows_day_1_given_and_days_8_and_15_planned(demo_db, cli):
    """The demo's given first infusion (issue 12): RA-P002's day 1 six days ago, with its dose
    batch, bedside check and infusion record; days 8 and 15 planned, with dates and make-by
    times. Dates are counted from today's day 1 (RA-P001's), so the test holds at any hour."""
    today_day_one = at(plan_view(demo_db, "RA-P001").infusions[0].planned_at)
    view = plan_view(demo_db, "RA-P002")
    _given_day_one_and_planned_days(view.to_dict()["infusions"], today_day_one)
    record = review(demo_db, "EASC-D000")
    lines = record.clinical_use.lines()
    ir = view.infusions[0].infusion_record
    assert any(line.startswith("C") and "Issued by" in line and "TL-0423" in line for line in lines)
    assert any("Received on the ward" in line and "within 15–25 °C" in line for line in lines)
    assert any(
        " MATCH " in line and "(clin1)" in line and "(clin2)" in line
        and "wristband RA-P002" in line
        and "CoI on the bag's label (content v2): its scan required" in line
        for line in lines
    )  # fmt: skip
    assert any(line.startswith(f"{ir} Infused: 40 mL") and "no reaction" in line for line in lines)

    url = demo_db.url
    r = cli("--db", url, "plan", "show", "RA-P002", user="clin1")
    assert r.code == 0, r.err
    rows = {line.split()[0]: line for line in r.out.splitlines() if line[:1] in "123"}
    assert "EASC-D000" in rows["1"] and "given" in rows["1"] and ir in rows["1"]
    for n, day in (("2", "day 8"), ("3", "day 15")):
        assert day in rows[n] and "planned" in rows[n] and "±" in rows[n]
    r = cli("--db", url, "plan", "show", "RA-P002", "--json", user="tech1")
    assert r.code == 0, r.err
    _given_day_one_and_planned_days(json.loads(r.out)["infusions"], today_day_one)


@GMP30
@run_async
async def test_the_recipients_screen_shows_ra_p002s_given_day_1_at_80x24(demo_db):
    from textual.widgets import DataTable

    from cellbatch.tui.app import build_app

    view = plan_view(demo_db, "RA-P002")
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "clin1")
        await pilot.press("f10")
        await settle(app, pilot)
        table = app.screen.query_one("#recipients", DataTable)
        codes = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        await pilot.press(*["down"] * codes.index("RA-P002"), "f8")
        await settle(app, pilot)
        shown = text_of(app, "#recipient-detail")
        lines = shown.splitlines()
        assert lines[0].startswith("RA-P002: SOP-EASC-DOSE")
        one, eight, fifteen = view.infusions
        assert lines[1].startswith("#1 day  1 " + one.planned_at[:16].replace("T", " "))
        assert f"given EASC-D000, {one.infusion_record} " in lines[1]
        assert one.infused_from[11:16] + "-" + one.infused_to[11:16] in lines[1]
        for line, i in ((lines[2], eight), (lines[3], fifteen)):
            assert line.startswith(
                f"#{i.number} day {i.day:>2} {i.planned_at[:16].replace('T', ' ')}"
            )
            assert f"fill by {i.fill_by[5:16].replace('T', ' ')}: planned" in line
