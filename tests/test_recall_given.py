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
    assert fates[("EASC-D001", 1)] == "infused"
    [given] = view.given
    assert re.fullmatch(r"infused at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(IR\d+\)", given.fate_text())
    assert "EASC-D001 bag 1" in lookback_text(view) and "infused at" in lookback_text(view)
    r = cli("--db", infused.url, "lookback", "forward", "bank", "EASC-B001", user="qa1")
    assert r.code == 0 and f"→ RA-P001: {given.fate_text()}" in r.out, r.out
    assert "given to: RA-P001" in r.out
    r = cli("--db", infused.url, "lookback", "forward", "bank", "EASC-B001", "--json", user="qa1")
    data = json.loads(r.out)
    [bag] = [b for b in data["bags"] if b["batch"] == "EASC-D001"]
    assert (bag["fate"], bag["given"]) == ("infused", True)
    assert bag["infusion_record"].startswith("IR") and data["infused_recipients"] == ["RA-P001"]


@GMP31
def test_a_recall_of_an_infused_bag_names_it_and_opens_a_report_for_its_recipient(
    infused, cli  # noqa: F811
):  # fmt: skip
    before = reports(infused)
    [given] = forward(infused, "bank", "EASC-B001").given
    at = given.given_at
    r = cli("--db", infused.url, "recall", "bank", "EASC-B001", "--reason", "supplier notice",
            "--user", "qa1", "--password-stdin", input="demo-qa1-pass\n")  # fmt: skip
    assert r.code == 0, r.err
    assert f"ALREADY GIVEN: EASC-D001 bag 1 to RA-P001: infused at {at}" in r.out, r.out
    [opened] = reports(infused)[len(before) :]
    status, recipient, description = opened
    assert (status, recipient) == ("open", "RA-P001")
    assert f"EASC-D001 bag 1 was infused at {at}" in description
    assert "supplier notice" in description
    assert "adverse-event report opened: AE" in r.out and ": RA-P001, EASC-D001 bag 1" in r.out
    r = cli("--db", infused.url, "adverse-event", "list", "--open", user="clin1")
    assert "RA-P001" in r.out and "EASC-D001" in r.out


@GMP31
def test_a_recall_of_bags_not_given_opens_no_report(demo_db):
    view = forward(demo_db, "bank", "EASC-B001")
    assert view.bags and {b.fate for b in view.bags} == {"not given yet"}
    done = recall(demo_db, "qa1", "demo-qa1-pass", "bank", "EASC-B001", reason="supplier notice")
    assert done.adverse_events == [] and done.given_lines() == [] and reports(demo_db) == []
