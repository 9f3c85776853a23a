"""A recall of a bag already given (issue 12 review, finding 4): the look-back shows each bag's
fate (CLI, JSON, screen text), the recall names the bags already infused and opens one
adverse-event report per infused bag for its recipient; a bag not given opens none."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from cellbatch.db.tables import AdverseEventReport, Recipient
from cellbatch.services.commands.recall import recall
from cellbatch.services.queries.lookback import forward
from tests.test_infusion_record import infused  # noqa: F401  (the fixture)

GMP31 = pytest.mark.requirement("GMP-31")


def reports(db) -> list[tuple[str, str, str]]:
    with db.session() as session:
        return [
            (r.status, code, r.description)
            for r, code in session.execute(
                select(AdverseEventReport, Recipient.code)
                .join(Recipient, Recipient.id == AdverseEventReport.recipient_id)
                .order_by(AdverseEventReport.id)
            ).all()
        ]


@GMP31
def test_the_look_back_says_each_bags_fate(infused, demo_db, cli):  # noqa: F811
    from cellbatch.tui.screens.lookback import lookback_text

    view = forward(infused, "bank", "EASC-B001")
    fates = {(b.batch, b.number): b.fate for b in view.bags}
    # the demo's RA-P002 was given EASC-D000 six days ago; the fixture infused EASC-D001
    assert fates[("EASC-D001", 1)] == fates[("EASC-D000", 1)] == "infused"
    [given] = [b for b in view.given if b.batch == "EASC-D001"]
    assert re.fullmatch(r"infused at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(IR\d+\)", given.fate_text())
    assert "EASC-D001 bag 1" in lookback_text(view) and "infused at" in lookback_text(view)
    r = cli("--db", infused.url, "lookback", "forward", "bank", "EASC-B001", user="qa1")
    assert r.code == 0 and f"→ RA-P001: {given.fate_text()}" in r.out, r.out
    assert "given to: RA-P001" in r.out
    r = cli("--db", infused.url, "lookback", "forward", "bank", "EASC-B001", "--json", user="qa1")
    data = json.loads(r.out)
    [bag] = [b for b in data["bags"] if b["batch"] == "EASC-D001"]
    assert (bag["fate"], bag["given"]) == ("infused", True)
    assert bag["infusion_record"].startswith("IR")
    assert sorted(data["infused_recipients"]) == ["RA-P001", "RA-P002"]


@GMP31
def test_a_recall_of_an_infused_bag_names_it_and_opens_a_report_for_its_recipient(
    infused, cli  # noqa: F811
):  # fmt: skip
    before = reports(infused)
    given = {b.batch: b.given_at for b in forward(infused, "bank", "EASC-B001").given}
    assert set(given) == {"EASC-D000", "EASC-D001"}  # the demo's RA-P002 and the fixture's
    r = cli("--db", infused.url, "recall", "bank", "EASC-B001", "--reason", "supplier notice",
            "--user", "qa1", "--password-stdin", input="demo-qa1-pass\n")  # fmt: skip
    assert r.code == 0, r.err
    for code, recipient in (("EASC-D001", "RA-P001"), ("EASC-D000", "RA-P002")):
        at = given[code]
        assert f"ALREADY GIVEN: {code} bag 1 to {recipient}: infused at {at}" in r.out, r.out
        assert f": {recipient}, {code} bag 1" in r.out
    opened = {
        recipient: (status, text) for status, recipient, text in reports(infused)[len(before) :]
    }
    assert set(opened) == {"RA-P001", "RA-P002"}  # one report per infused bag, for its recipient
    status, description = opened["RA-P001"]
    assert status == "open"
    assert f"EASC-D001 bag 1 was infused at {given['EASC-D001']}" in description
    assert "supplier notice" in description and "EASC-D000" not in description
    assert "adverse-event report opened: AE" in r.out
    r = cli("--db", infused.url, "adverse-event", "list", "--open", user="clin1")
    assert "RA-P001" in r.out and "EASC-D001" in r.out


@GMP31
def test_a_recall_opens_no_report_for_a_bag_not_given(demo_db):
    # the demo's bank made RA-P002's EASC-D000 (given six days ago) and RA-P001's EASC-D001
    # (filled, not given yet): one report, for the given bag's recipient only
    view = forward(demo_db, "bank", "EASC-B001")
    fates = {b.batch: b.fate for b in view.bags}
    assert fates == {"EASC-D000": "infused", "EASC-D001": "not given yet"}
    done = recall(demo_db, "qa1", "demo-qa1-pass", "bank", "EASC-B001", reason="supplier notice")
    assert len(done.adverse_events) == 1 and len(done.given_lines()) == 1
    assert "EASC-D000" in done.given_lines()[0] and "EASC-D001" not in done.given_lines()[0]
    [(status, recipient, description)] = reports(demo_db)
    assert (status, recipient) == ("open", "RA-P002") and "EASC-D001" not in description
