"""The bedside check and the infusion record (GMP-30): MATCH only for this recipient, this
infusion, a released bag in date and not on hold; every attempt recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from cellbatch import isbt128
from cellbatch.db.tables import Bag, BedsideCheck, InfusionRecord
from cellbatch.domain.errors import InvalidInput, PermissionDenied, RuleViolation
from cellbatch.services.auth import authenticate
from cellbatch.services.commands import release
from cellbatch.services.commands.bedside import bedside_check, record_infusion
from cellbatch.services.commands.recall import recall
from cellbatch.services.queries.batch_view import batch_view
from tests.test_tui_workflows import log_in, run_async, settle, text_of

GMP30 = pytest.mark.requirement("GMP-30")
RA_BAND = "H0481516^RA-P001"


def user(db, name: str):
    return authenticate(db, name, f"demo-{name}-pass")


@pytest.fixture
def ward(demo_db):
    """The demo (two nurses: clin1 and clin2) with EASC-D001 released."""
    release.decide(demo_db, "qa1", "EASC-D001", "release", "record reviewed",
                   password="demo-qa1-pass")  # fmt: skip
    return demo_db


@pytest.fixture
def received(ward):
    """EASC-D001's bag issued to clin1 and received on the ward (20 °C): ready for the bedside."""
    from cellbatch.services.commands.custody import issue_bag, receive_bag

    issue_bag(ward, user(ward, "tech1"), "clin1", "demo-clin1-pass", label_scans(ward),
              container="validated shipper no. 4")  # fmt: skip
    receive_bag(ward, user(ward, "clin1"), label_scans(ward), condition="intact",
                temperature="20 degC")  # fmt: skip


def label_scans(db, code: str = "EASC-D001") -> list[str]:
    bag = batch_view(db, code).to_dict()["bag"]
    din = isbt128.Din.from_code(bag["din"])
    return [din.data_structure(), isbt128.PRODUCT_CODE_IDENTIFIER + bag["product_code"]]


def check(db, band: str = RA_BAND, scans: list[str] | None = None):
    return bedside_check(db, user(db, "clin1"), "clin2", "demo-clin2-pass", band,
                         label_scans(db) if scans is None else scans)  # fmt: skip


def minutes_from_now(minutes: float) -> str:
    """A time as typed (to the second), ``minutes`` from now: an infusion after its check."""
    at = datetime.now(UTC) + timedelta(minutes=minutes)
    return at.strftime("%Y-%m-%d %H:%M:%SZ")


def checks(db) -> list[BedsideCheck]:
    """The bedside checks recorded in the test: after the demo's own (RA-P002's day 1)."""
    with db.session() as session:
        return list(
            session.execute(
                select(BedsideCheck).where(BedsideCheck.id > DEMO_CHECKS).order_by(BedsideCheck.id)
            ).scalars()
        )


DEMO_CHECKS = 1
"""Bedside checks in the demo: the MATCH before RA-P002's day-1 infusion, six days ago."""


def last_id(db, model) -> int:
    """The highest id of ``model`` so far (0: none): the next record's number follows it."""
    with db.session() as session:
        return session.execute(select(func.max(model.id))).scalar_one() or 0


@GMP30
@pytest.mark.usefixtures("received")  # a bag not received says NO MATCH
def test_the_right_pair_says_match_and_the_bag_is_infused(ward):
    bc, ir = last_id(ward, BedsideCheck) + 1, last_id(ward, InfusionRecord) + 1
    result = check(ward)
    assert result.match
    assert result.text().startswith(f"MATCH (BC{bc}): EASC-D001 bag 1, infusion 1")
    with pytest.raises(InvalidInput, match="--start"):
        record_infusion(ward, user(ward, "clin1"), result.ref, fate="infused")
    now = datetime.now(UTC)
    ref = record_infusion(
        ward, user(ward, "clin1"), result.ref, fate="infused", started=now,
        stopped=now + timedelta(seconds=5), volume="40 mL", reaction="none",
    )  # fmt: skip
    assert ref == f"IR{ir}"
    with pytest.raises(RuleViolation, match="has its infusion record already"):
        record_infusion(ward, user(ward, "clin1"), result.ref, fate="discarded", reason="x")
    # once given, the same bag no longer matches: the next infusion is 2
    again = check(ward)
    assert not again.match and "next infusion is 2" in again.text()


@GMP30
@pytest.mark.parametrize(
    ("band", "expected"),
    [
        ("H0481522^RA-P002", "the bag is for RA-P001, the wristband is RA-P002's"),
        ("H9999999^RA-P001", "hospital number is not RA-P001's hospital number on record"),
        ("RA-P001", "unreadable wristband"),
    ],
)
def test_another_recipients_wristband_says_no_match_and_is_recorded(ward, band, expected):
    result = check(ward, band)
    assert not result.match and expected in result.text()
    (row,) = checks(ward)
    assert not row.match and expected in row.reasons
    assert "H9999999" not in row.reasons and "H0481522" not in row.reasons  # identity stays out


@GMP30
def test_an_unreleased_expired_or_held_bag_says_no_match(demo_db, ward):
    with ward.session() as session:
        session.execute(update(Bag).values(expires_at=datetime.now(UTC) - timedelta(minutes=1)))
        session.commit()
    assert "the bag expired at" in check(ward).text()
    with ward.session() as session:
        session.execute(update(Bag).values(expires_at=datetime.now(UTC) + timedelta(hours=2)))
        session.commit()
    recall(ward, "qa2", "demo-qa2-pass", "bank", "EASC-B001", reason="supplier recall")
    held = check(ward)
    assert not held.match and "ON HOLD" in held.text()
    assert len(checks(ward)) == 2


@GMP30
def test_an_unreleased_bag_or_another_infusions_bag_says_no_match(demo_db):
    ir = last_id(demo_db, InfusionRecord) + 1
    result = check(demo_db)
    assert not result.match and "in-process, not released" in result.text()
    no_bag = check(demo_db, scans=["=W00000912345600"])
    assert not no_bag.match and "not both scanned" in no_bag.text()
    with pytest.raises(RuleViolation, match="NO MATCH: a bag is given only after a MATCH"):
        now = datetime.now(UTC)
        record_infusion(demo_db, user(demo_db, "clin1"), result.ref, fate="infused",
                        started=now, stopped=now, volume="1 mL")  # fmt: skip
    assert record_infusion(demo_db, user(demo_db, "clin1"), result.ref, fate="not-infused",
                           reason="batch not released") == f"IR{ir}"  # fmt: skip


def test_two_people_from_the_clinic(ward):
    with pytest.raises(PermissionDenied, match="two people"):
        bedside_check(ward, user(ward, "clin2"), "clin2", "demo-clin2-pass", RA_BAND, [])
    with pytest.raises(PermissionDenied, match="may not check bags"):
        bedside_check(ward, user(ward, "tech1"), "clin2", "demo-clin2-pass", RA_BAND, [])


@GMP30
@pytest.mark.usefixtures("received")  # a bag not received says NO MATCH
def test_bedside_and_infusion_commands(cli, ward):
    url = ward.url
    bc, ir = last_id(ward, BedsideCheck) + 1, last_id(ward, InfusionRecord) + 1
    scans = [a for s in label_scans(ward) for a in ("--scan", s)]
    r = cli("--db", url, "bedside", "check", "--wristband", "H0481522^RA-P002", *scans,
            "--second", "clin2", "--user", "clin1", "--password-stdin",
            input="demo-clin1-pass\ndemo-clin2-pass\n")  # fmt: skip
    assert r.code == 1 and r.out.startswith(f"NO MATCH (BC{bc})")
    r = cli("--db", url, "bedside", "check", "--wristband", RA_BAND, *scans,
            "--second", "clin2", "--user", "clin1", "--password-stdin",
            input="demo-clin1-pass\ndemo-clin2-pass\n")  # fmt: skip
    assert r.code == 0 and r.out.startswith(f"MATCH (BC{bc + 1})")
    start, stop = minutes_from_now(0), minutes_from_now(0.1)
    r = cli("--db", url, "infusion", "record", "--check", f"BC{bc + 1}", "--fate",
            "partly-infused", "--start", start, "--stop", stop, "--volume", "25 mL",
            "--reaction", "chills", "--grade", "1", "--reason", "stopped for chills",
            user="clin1")  # fmt: skip
    assert r.code == 0 and f"IR{ir}: partly-infused" in r.out, r.err


@GMP30
@pytest.mark.usefixtures("received")  # a bag not received says NO MATCH
@run_async
async def test_bedside_screen_match_no_match_and_infusion_at_80x24(ward):
    from textual.widgets import Input

    from cellbatch.tui.app import build_app
    from cellbatch.tui.screens.bedside import BedsideScreen

    bc, ir = last_id(ward, BedsideCheck) + 1, last_id(ward, InfusionRecord) + 1
    app = build_app(ward.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "clin1")
        await pilot.press("f12")
        await settle(app, pilot)
        assert isinstance(app.screen, BedsideScreen)

        async def scan_and_check(band: str) -> str:
            await pilot.press(*band, "enter")
            for barcode in label_scans(ward):
                await pilot.press(*barcode, "enter")
            await pilot.press("enter")  # done with the bag
            await pilot.press(*"clin2", "enter", *"demo-clin2-pass", "enter")
            await settle(app, pilot)
            return text_of(app, "#bedside-verdict")

        shown = await scan_and_check("H0481522^RA-P002")
        assert f"NO MATCH (BC{bc})" in shown and "the wristband is RA-P002's" in shown
        await pilot.press("f8")
        shown = await scan_and_check(RA_BAND)
        assert shown.startswith(f"✓ MATCH (BC{bc + 1})")
        await pilot.press("f6")
        await settle(app, pilot)
        for name, value in (("fate", "infused"), ("start", minutes_from_now(0)),
                            ("stop", minutes_from_now(0.1)), ("volume", "40 mL"),
                            ("reaction", "none"), ("grade", "-"), ("reason", "-")):  # fmt: skip
            app.screen.query_one(f"#form-{name}", Input).value = value
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert f"infusion record IR{ir} saved" in text_of(app, "#bedside-verdict")
    assert [c.match for c in checks(ward)] == [False, True]


@GMP30
@pytest.mark.usefixtures("received")  # a bag not received says NO MATCH
def test_the_chain_of_identity_scanned_must_be_this_recipients_therapy(ward):
    from cellbatch.services.queries.plans import plan_view

    own, other = plan_view(ward, "RA-P001").coi, plan_view(ward, "RA-P002").coi
    wrong = check(ward, scans=[*label_scans(ward), other])
    assert not wrong.match
    assert f"the chain-of-identity identifier scanned ({other}) is not RA-P001's therapy" in (
        wrong.text()
    )
    unreadable = check(ward, scans=[*label_scans(ward), "&/CH12"])
    assert not unreadable.match and "unreadable chain-of-identity scan" in unreadable.text()
    right = check(ward, scans=[*label_scans(ward), own])
    assert right.match, right.text()
    (_, _, row) = checks(ward)
    assert own in row.bag_scans  # what was scanned is kept with the attempt
