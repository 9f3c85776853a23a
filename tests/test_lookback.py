"""Look-back and recall (GMP-31): forward to every vial, dose, bag and recipient, back to the
donor and every material; a recall holds all of it in one signed action."""

from __future__ import annotations

import json

import pytest

from cellbatch.domain.errors import (
    AuthenticationFailed,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RuleViolation,
)
from cellbatch.services.auth import authenticate
from cellbatch.services.commands import batches
from cellbatch.services.commands.recall import recall
from cellbatch.services.queries.holds import is_held
from cellbatch.services.queries.lookback import backward, forward
from cellbatch.services.queries.signatures import batch_signatures
from tests.test_tui_workflows import log_in, run_async, settle, text_of

GMP31 = pytest.mark.requirement("GMP-31")


@GMP31
def test_forward_from_the_demo_bank_lists_every_vial_dose_bag_and_recipient(demo_db):
    view = forward(demo_db, "bank", "easc-b001")
    assert [b.batch for b in view.banks] == ["EASC-B001"]
    assert len(view.vials) == 16
    thawed = [v for v in view.vials if v.state != "in stock"]
    assert len(thawed) == 8 and {v.state for v in thawed} == {
        "thawed for EASC-D001", "thawed for EASC-D000",
    }  # fmt: skip
    # today's dose in production, and RA-P002's day 1 given six days ago
    assert [(d.batch, d.recipient, d.infusion) for d in view.doses] == [
        ("EASC-D001", "RA-P001", 1), ("EASC-D000", "RA-P002", 1),
    ]  # fmt: skip
    assert [(b.batch, b.number) for b in view.bags] == [("EASC-D001", 1), ("EASC-D000", 1)]
    assert all(b.din for b in view.bags) and view.recipients == ["RA-P001", "RA-P002"]


@GMP31
@pytest.mark.parametrize(
    ("origin", "ref", "banks", "doses"),
    [
        ("donor", "DN-2026-0002", ["BMMSC-B001"], ["FUC-D001"]),
        ("tissue-lot", "TL-ADI-0001", ["EASC-B001"], ["EASC-D001", "EASC-D000"]),
        (
            "material-lot",
            "DPBS-88812",
            ["EASC-B001", "BMMSC-B001"],
            ["EASC-D001", "FUC-D001", "EASC-D000"],
        ),
        ("material-lot", "SAL-HSA-0915", [], ["EASC-D001", "EASC-D000"]),
    ],
)
def test_forward_from_a_donor_tissue_lot_or_material_lot(demo_db, origin, ref, banks, doses):
    view = forward(demo_db, origin, ref)
    assert [b.batch for b in view.banks] == banks
    assert [d.batch for d in view.doses] == doses


@GMP31
def test_backward_from_a_bag_to_its_donor_and_every_material(demo_db):
    view = backward(demo_db, "EASC-D001", 1)
    assert (view.bank, view.tissue_lot, view.donor, view.recipient) == (
        "EASC-B001", "TL-ADI-0001", "DN-2026-0001", "RA-P001",
    )  # fmt: skip
    assert view.bag.startswith("bag 1 (") and len(view.vials) == 4
    lots = {m.lot for m in view.materials}
    assert {"SAL-HSA-0915", "DPBS-88812", "AMEM-24K118", "HPL-2611-07", "TRYPLE-3320"} <= lots
    assert {m.batch for m in view.materials} == {"EASC-B001", "EASC-D001"}
    with pytest.raises(NotFound, match="--bag: EASC-D001 has no bag 2"):
        backward(demo_db, "EASC-D001", 2)


def test_a_look_back_from_something_unknown_is_refused_by_name(demo_db):
    with pytest.raises(InvalidInput, match="FROM: expected one of donor, tissue-lot"):
        forward(demo_db, "patient", "RA-P001")
    with pytest.raises(NotFound, match="no donor DN-9"):
        forward(demo_db, "donor", "DN-9")
    with pytest.raises(InvalidInput, match="EASC-D001 is a dose batch, not a bank"):
        forward(demo_db, "bank", "EASC-D001")


@GMP31
def test_a_recall_holds_everything_the_look_back_lists_in_one_signed_action(demo_db):
    with pytest.raises(PermissionDenied, match="may not recall products"):
        recall(demo_db, "tech1", "demo-tech1-pass", "bank", "EASC-B001", reason="x")
    with pytest.raises(AuthenticationFailed):
        recall(demo_db, "qa1", "wrong", "bank", "EASC-B001", reason="supplier notice")
    assert not is_held(demo_db, "EASC-B001")  # only the failed attempt is on record
    done = recall(
        demo_db, "qa1", "demo-qa1-pass", "material-lot", "DPBS-88812",
        reason="supplier recall of the wash solution",
    )  # fmt: skip
    assert done.held == ["EASC-B001", "BMMSC-B001", "EASC-D001", "FUC-D001", "EASC-D000"]
    for code in done.held:
        (hold,) = is_held(demo_db, code)
        assert hold.hold == done.hold and hold.cause == "recall"
        signed = [s for s in batch_signatures(demo_db, code) if s.meaning == "approved"]
        assert [(s.username, s.valid) for s in signed] == [("qa1", True)]
    assert is_held(demo_db, "EASC-D001", 1)  # the bag with its batch
    with pytest.raises(RuleViolation, match="ON HOLD"):
        batches.start_dose(
            demo_db, authenticate(demo_db, "tech1", "demo-tech1-pass"), "EASC-D002",
            parent="EASC-B001", sop_id="SOP-EASC-DOSE", recipient="RA-P002",
        )  # fmt: skip


@GMP31
def test_lookback_and_recall_commands(cli, demo_db):
    url = demo_db.url
    r = cli("--db", url, "lookback", "forward", "bank", "EASC-B001", "--json", user="tech1")
    data = json.loads(r.out)
    assert data["recipients"] == ["RA-P001", "RA-P002"] and len(data["vials"]) == 16
    r = cli("--db", url, "lookback", "backward", "EASC-D001", "--bag", "1", user="qa1")
    assert r.code == 0 and "donor: DN-2026-0001" in r.out and "SAL-HSA-0915" in r.out
    r = cli("--db", url, "lookback", "forward", "vendor", "X", user="qa1")
    assert r.code == 2 and "FROM: expected one of" in r.err
    r = cli("--db", url, "recall", "donor", "DN-2026-0002", "--reason", "new donor information",
            user="qa1")  # fmt: skip
    assert r.code == 0 and "BMMSC-B001, FUC-D001" in r.out, r.err
    r = cli("--db", url, "hold", "check", "FUC-D001", user="tech1")
    assert r.code == 1 and "ON HOLD" in r.out


@GMP31
@run_async
async def test_lookback_screen_and_recall_at_80x24(demo_db):
    from textual.widgets import Input

    from cellbatch.tui.app import build_app
    from cellbatch.tui.screens.lookback import LookbackScreen

    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "qa1")
        await pilot.press("f11")
        await settle(app, pilot)
        assert isinstance(app.screen, LookbackScreen)
        await pilot.press(*"bank EASC-B001", "enter")
        await settle(app, pilot)
        shown = text_of(app, "#lookback-result")
        assert "Vials (16, 8 in stock)" in shown and "Recipients: RA-P001, RA-P002" in shown
        await pilot.press("f5")
        await settle(app, pilot)
        app.screen.query_one("#sig-reason", Input).value = "sterility failure in the bank"
        app.screen.query_one("#sig-password", Input).value = "demo-qa1-pass"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert "RECALLED: hold H1 on EASC-B001, EASC-D001" in text_of(app, "#lookback-result")
        await pilot.press("ctrl+a")  # select all, then trace back
        app.screen.query_one("#lookback-ref", Input).value = "EASC-D001 1"
        app.screen.query_one("#lookback-ref", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert "donor DN-2026-0001" in text_of(app, "#lookback-result")
    assert is_held(demo_db, "EASC-D001")
