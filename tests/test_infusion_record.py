"""From issue to infusion in the batch record and the QA review (issue 12): who issued the bag,
every hand-over, every bedside check with its verdict and reasons, and the infusion (when, how
much, recorded by whom, reactions, the bag's fate), in words, on paper, in the JSON copy, in
``review`` and on the TUI's review screen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cellbatch.services.commands import release
from cellbatch.services.commands.bedside import bedside_check, record_infusion
from cellbatch.services.commands.custody import hand_over, issue_bag, receive_bag
from cellbatch.services.queries.review import review
from tests.test_batch_record import record_text, squeeze
from tests.test_bedside import RA_BAND, label_scans, user
from tests.test_tui_workflows import log_in, run_async, settle

GMP30 = pytest.mark.requirement("GMP-30")


@pytest.fixture
def infused(demo_db):
    """EASC-D001 released, issued by tech1 to clin1, handed to clin2, received on the ward by
    clin2 (20 °C), a NO MATCH with another
    recipient's wristband, a MATCH, and its infusion (40 mL, no reaction)."""
    db = demo_db
    release.decide(db, "qa1", "EASC-D001", "release", "record reviewed", password="demo-qa1-pass")
    issue_bag(db, user(db, "tech1"), "clin1", "demo-clin1-pass", label_scans(db),
              container="validated shipper no. 4", temperature="21 degC")  # fmt: skip
    hand_over(db, user(db, "clin1"), "clin2", "demo-clin2-pass", label_scans(db))
    receive_bag(db, user(db, "clin2"), label_scans(db), condition="intact, sealed",
                temperature="20 degC")  # fmt: skip
    for band in ("H0481522^RA-P002", RA_BAND):
        check = bedside_check(db, user(db, "clin1"), "clin2", "demo-clin2-pass", band,
                              label_scans(db))  # fmt: skip
    assert check.match
    started = datetime.now(UTC)  # after the check, as the infusion record requires
    record_infusion(db, user(db, "clin1"), check.ref, fate="infused", started=started,
                    stopped=started + timedelta(seconds=5), volume="40 mL",
                    reaction="none")  # fmt: skip
    return db


EXPECTED = [
    "Issued by Tomás Herrera (tech1) to Clara Nilsen (clin1)",
    "transport container: validated shipper no. 4",
    "temperature 21 °C",
    "Handed over by Clara Nilsen (clin1) to Maja Holm (clin2)",
    "Received on the ward by Maja Holm (clin2) from Maja Holm (clin2)",
    "container on arrival: intact, sealed",
    "temperature on arrival 20 °C; within 15–25 °C",
    "NO MATCH",
    "the bag is for RA-P001, the wristband is RA-P002's",
    "checked by Clara Nilsen (clin1) and Maja Holm (clin2)",
    "Infused: 40 mL from",
    "no reaction",
    "recorded by Clara Nilsen (clin1)",
]


def _missing(expected: list[str], text: str) -> list[str]:
    return [e for e in expected if squeeze(e) not in squeeze(text)]


@GMP30
def test_the_dose_record_shows_issue_custody_bedside_checks_and_infusion(infused):
    data, pages, text = record_text(infused, "EASC-D001")
    assert not _missing(["Issue, custody, bedside check and infusion", *EXPECTED], text)
    # the electronic copy holds the two attempts, in order
    clinical = data.to_dict()["clinical_use"]
    assert [s["kind"] for s in clinical["custody"]] == ["issue", "hand-over", "receipt"]
    assert [c["match"] for c in clinical["bedside_checks"]] == [False, True]
    no, yes = (c["ref"] for c in clinical["bedside_checks"])
    # a MATCH is printed as one, after the NO MATCH: both attempts are on paper, in order
    assert squeeze(f"{no} NO MATCH") in text and squeeze(f"{yes} MATCH") in text
    (given,) = clinical["infusions"]
    assert given["fate"] == "infused" and given["volume"]["display"] == "40 mL"
    assert given["check"] == yes and given["recorded_by"]["username"] == "clin1"


def test_a_dose_not_yet_issued_says_so_and_a_bank_has_no_such_section(demo_db):
    _, _, text = record_text(demo_db, "EASC-D001")
    assert squeeze("The bag has not been issued.") in text
    _, _, bank = record_text(demo_db, "EASC-B001")
    assert squeeze("Issue, custody, bedside check and infusion") not in bank


@GMP30
def test_the_review_shows_issue_custody_bedside_checks_and_infusion(infused, cli):
    r = review(infused, "EASC-D001")
    assert not _missing(EXPECTED, "\n".join(r.clinical_use.lines()))
    assert r.to_dict()["clinical_use"]["infusions"][0]["fate"] == "infused"
    out = cli("--db", infused.url, "review", "EASC-D001", user="qa1")
    assert out.code == 0, out.err
    assert "Issue, custody, bedside check and infusion:" in out.out
    assert not _missing(EXPECTED, out.out)


@GMP30
@run_async
async def test_the_review_screen_shows_the_infusion_at_80x24(infused):
    from cellbatch.tui.app import build_app

    app = build_app(infused.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "qa1")
        await pilot.press(*"EASC-D001", "enter")
        await settle(app, pilot)
        await pilot.press("f6")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "ReviewScreen"
        table = app.screen.query_one("#clinical")
        shown = "\n".join(
            " ".join(str(c) for c in table.get_row_at(i)) for i in range(table.row_count)
        )
        assert not _missing(EXPECTED, shown), shown
