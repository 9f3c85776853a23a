"""Whole workflows in the terminal UI, driven by key presses through Textual's Pilot."""

from __future__ import annotations

import asyncio
import functools
import re
from datetime import UTC, datetime

import pytest
from textual.widgets import Button, Input, Select, Static
from textual.worker import WorkerFailed

from cellbatch.services.auth import authenticate
from cellbatch.services.commands.batches import start_expansion
from cellbatch.services.queries.batch_view import batch_view
from cellbatch.tui.app import build_app
from cellbatch.tui.clock import FrozenClock
from tests.lab import next_demo_dose


def run_async(test):
    """Run an async test body in its own event loop (no async plugin needed)."""

    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return wrapper


async def settle(app, pilot) -> None:
    """Let every worker finish and the UI process what they posted."""
    for _ in range(4):
        try:
            await app.workers.wait_for_complete()
        except WorkerFailed:  # a refusal: the screen shows it
            pass
        await pilot.pause()


async def log_in(app, pilot, user: str) -> None:
    """Type user ID and password as a person would."""
    await pilot.press(*user, "enter", *f"demo-{user}-pass", "enter")
    await settle(app, pilot)


async def back_home(app, pilot) -> None:
    """Escape until the home screen is on top."""
    for _ in range(5):
        if type(app.screen).__name__ == "HomeScreen":
            return
        await pilot.press("escape")
        await settle(app, pilot)


def text_of(app, selector: str) -> str:
    """What a Static currently shows."""
    return str(app.screen.query_one(selector, Static).render())


@pytest.fixture
def new_bank(demo_db):
    """The demo plus a new eASC expansion batch EASC-B002 with nothing recorded yet."""
    tech1 = authenticate(demo_db, "tech1", "demo-tech1-pass")
    start_expansion(demo_db, tech1, "EASC-B002", lot_number="TL-ADI-0001", sop_id="SOP-EASC-EXP")
    return demo_db


@pytest.mark.requirement("GMP-23")
@pytest.mark.requirement("GMP-19")
@run_async
async def test_technician_records_a_passage_wrong_unit_refused_then_saved(new_bank):
    app = build_app(new_bank.url, idle_lock_seconds=3600)
    async with app.run_test(size=(100, 40)) as pilot:
        await log_in(app, pilot, "tech1")
        assert type(app.screen).__name__ == "HomeScreen"
        assert "EASC-B002" in text_of(app, "#home-summary") or app.screen.query_one("#in-process")
        await pilot.press(*"easc-b002", "enter")  # a scanner types the code and Enter
        await settle(app, pilot)
        assert type(app.screen).__name__ == "BatchScreen"
        assert "NEXT" in text_of(app, "#timeline")
        await pilot.press("f2")
        await settle(app, pilot)
        form = app.screen
        assert type(form).__name__ == "EntryScreen"

        # vessel by keyboard: open the list, pick CS2
        vessel = form.query_one("#f-vessel", Select)
        vessel.focus()
        await pilot.press("enter")
        await pilot.pause()
        while vessel.value != "CS2":
            await pilot.press("down", "enter")
            await pilot.pause()
            if vessel.value != "CS2":
                await pilot.press("enter")
        await pilot.press("tab", *"3.8 x 10^6 mL", "enter")  # wrong unit: a volume
        await settle(app, pilot)
        # Enter on a wrong value keeps the cursor there (a rescan would replace it)
        assert app.focused is form.query_one("#f-viable_cells", Input)
        await pilot.press("tab", *"1", "enter")
        await pilot.press(*"AMEM-24K118", "enter", *"HPL-2611-07", "enter", *"TRYPLE-3320")
        await settle(app, pilot)
        hint = text_of(app, "#h-viable_cells")
        assert "✗" in hint and "cell" in hint, hint
        assert form.query_one("#save", Button).disabled
        assert "Viable cells seeded" in text_of(app, "#form-error")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert batch_view(new_bank, "EASC-B002").to_dict()["steps"] == []  # nothing saved

        cells = form.query_one("#f-viable_cells", Input)
        cells.value = ""
        cells.focus()
        await pilot.press(*"3.8 x 10^6 cells")
        await settle(app, pilot)
        assert text_of(app, "#h-viable_cells").startswith("✓")
        preview = text_of(app, "#preview")
        assert "Seeding density" in preview and "✓" in preview  # 3.8e6 / 1272 cm²
        assert not form.query_one("#save", Button).disabled
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        view = batch_view(new_bank, "EASC-B002").to_dict()
        assert [s["kind"] for s in view["steps"]] == ["seed"]
        seed = view["steps"][0]
        assert seed["values"]["viable_cells"]["value"] == pytest.approx(3.8e6)
        assert seed["recorded_by"]["username"] == "tech1"
        assert {m["lot"] for m in seed["materials"]} == {
            "AMEM-24K118",
            "HPL-2611-07",
            "TRYPLE-3320",
        }
        assert f"RECORDED {seed['id']}" in text_of(app, "#preview")
        await pilot.press("enter")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "BatchScreen"
        assert "DONE" in text_of(app, "#timeline")


@run_async
async def test_out_of_range_set_point_blocks_saving_expired_lot_refused(new_bank):
    app = build_app(new_bank.url, idle_lock_seconds=3600)
    async with app.run_test(size=(100, 40)) as pilot:
        await log_in(app, pilot, "tech1")
        app.open_batch("EASC-B002")
        await settle(app, pilot)
        await pilot.press("f2")
        await settle(app, pilot)
        form = app.screen
        form.query_one("#f-vessel", Select).value = "T75"
        form.query_one("#f-vessels", Input).value = "1"
        form.query_one("#f-viable_cells", Input).value = "5e6 cells"  # 66 667 cells/cm²
        form.query_one("#f-lot_supplement", Input).value = "HPL-2604-02"  # expired demo lot
        await settle(app, pilot)
        assert "outside" in text_of(app, "#preview")
        assert "EXPIRED" in text_of(app, "#h-lot_supplement")
        assert form.query_one("#save", Button).disabled
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert batch_view(new_bank, "EASC-B002").to_dict()["steps"] == []


@pytest.mark.requirement("GMP-04")
@run_async
async def test_wrong_password_is_refused_at_the_login_screen(demo_db):
    app = build_app(demo_db.url)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"tech1", "enter", *"not-the-password", "enter")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "LoginScreen"
        assert "wrong" in text_of(app, "#login-status")
        assert app.actor is None


@pytest.mark.requirement("GMP-22")
@pytest.mark.requirement("GMP-14")
@run_async
async def test_idle_lock_engages_and_asks_the_password_again(demo_db):
    clock = FrozenClock(datetime(2026, 11, 22, 9, 0, tzinfo=UTC))
    app = build_app(demo_db.url, clock=clock, idle_lock_seconds=300)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "tech1")
        home = app.screen
        clock.advance(299)
        app.check_idle()
        await pilot.pause()
        assert not app.locked
        clock.advance(2)
        app.check_idle()
        await settle(app, pilot)
        assert app.locked and type(app.screen).__name__ == "LockScreen"
        assert "LOCKED" in app.session_line(80)
        await pilot.press("escape", *"wrong-password", "enter")
        await settle(app, pilot)
        assert app.locked and type(app.screen).__name__ == "LockScreen"
        assert "wrong" in text_of(app, "#lock-status")
        await pilot.press(*"demo-tech1-pass", "enter")
        await settle(app, pilot)
        assert not app.locked and app.screen is home
        assert app.actor.username == "tech1"


@pytest.mark.requirement("GMP-14")
@run_async
async def test_another_user_at_the_lock_discards_the_unsaved_entry(new_bank):
    app = build_app(new_bank.url, idle_lock_seconds=3600)
    notes: list[str] = []
    async with app.run_test(size=(100, 40)) as pilot:
        app.notify = lambda message, **kw: notes.append(message)  # type: ignore[method-assign]
        await log_in(app, pilot, "tech1")
        app.open_batch("EASC-B002")
        await settle(app, pilot)
        await pilot.press("f2")
        await settle(app, pilot)
        app.screen.query_one("#f-viable_cells", Input).value = "3.8e6 cells"
        await pilot.press("ctrl+l")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "LockScreen"
        user = app.screen.query_one("#lock-user", Input)
        user.value = "tech2"
        await pilot.press(*"demo-tech2-pass", "enter")
        await settle(app, pilot)
        assert app.actor.username == "tech2"
        assert type(app.screen).__name__ == "HomeScreen"
        assert any("discarded" in n and "tech1" in n for n in notes), notes
        assert batch_view(new_bank, "EASC-B002").to_dict()["steps"] == []


@run_async
async def test_escape_on_a_typed_form_asks_first_and_a_second_escape_discards(new_bank):
    app = build_app(new_bank.url, idle_lock_seconds=3600)
    notes: list[str] = []
    async with app.run_test(size=(80, 24)) as pilot:
        app.notify = lambda message, **kw: notes.append(message)  # type: ignore[method-assign]
        await log_in(app, pilot, "tech1")
        app.open_batch("EASC-B002")
        await settle(app, pilot)
        await pilot.press("f2")
        await settle(app, pilot)
        cells = app.screen.query_one("#f-viable_cells", Input)
        assert cells.placeholder.startswith("e.g.") and "cells" in cells.placeholder
        cells.value = "3.8e6 cells"
        await pilot.press("escape")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "EntryScreen"
        assert cells.value == "3.8e6 cells" and "press Esc again to discard" in notes[-1]
        await pilot.press("escape")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "BatchScreen"
        assert "discarded" in notes[-1]
    assert batch_view(new_bank, "EASC-B002").to_dict()["steps"] == []


@pytest.mark.requirement("GMP-20")
@pytest.mark.requirement("GMP-13")
@run_async
async def test_second_technician_verifies_the_entry_with_a_signature(new_bank):
    from cellbatch.services.commands import steps
    from cellbatch.services.queries.verification import verification_status

    tech1 = authenticate(new_bank, "tech1", "demo-tech1-pass")
    lots = ["AMEM-24K118", "HPL-2611-07", "TRYPLE-3320"]
    entry = steps.seed(
        new_bank, tech1, "EASC-B002", vessel="CS2", vessels=1, cells="3.8e6 cells", materials=lots
    )
    app = build_app(new_bank.url, idle_lock_seconds=3600)
    async with app.run_test(size=(100, 40)) as pilot:
        await log_in(app, pilot, "tech2")
        app.open_batch("EASC-B002")
        await settle(app, pilot)
        await pilot.press("f6")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "ReviewScreen"
        assert [p.ref for p in app.screen.pending] == [f"E{entry}"]
        queue = app.screen.query_one("#pending")
        assert "viable cells 3.8 ×10⁶ cells" in str(queue.get_row_at(0)[1])
        await pilot.press("f6")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "SignatureDialog"
        signing = text_of(app, "#sig-what")
        assert "VERIFIED" in signing
        # the verifier reads what they sign: the values and the lots
        assert "vessel CS2" in signing and "lot TRYPLE-3320" in signing
        await pilot.press(*"demo-tech2-pass", "enter")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "ReviewScreen"
        assert app.screen.pending == []
    status = {v.ref: v for v in verification_status(new_bank, "EASC-B002")}
    assert status[f"E{entry}"].status == "verified"
    assert status[f"E{entry}"].verifications[0].username == "tech2"


@pytest.mark.requirement("GMP-21")
@pytest.mark.requirement("GMP-24")
@run_async
async def test_qa_reviews_and_releases_then_label_printed_and_scanned(
    demo_db, tmp_path, monkeypatch
):
    monkeypatch.setenv("CELLBATCH_PRINT_DIR", str(tmp_path / "printed"))
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(100, 40)) as pilot:
        await log_in(app, pilot, "qa1")
        assert "EASC-D001" in [
            str(r[0]) for r in map(app.screen.query_one("#awaiting").get_row_at, range(1))
        ]
        await pilot.press(*"EASC-D001", "enter")
        await settle(app, pilot)
        await pilot.press("f6")
        await settle(app, pilot)
        review = app.screen
        assert "READY for release" in text_of(app, "#verdict")
        await pilot.press("f9")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "SignatureDialog"
        await pilot.press(*"records reviewed, QC within specification", "enter")
        await pilot.press("enter", *"demo-qa1-pass", "enter")  # user ID pre-filled: Enter moves on
        await settle(app, pilot)
        assert app.screen is review
        assert "RELEASED" in text_of(app, "#verdict")
        await pilot.press("escape")
        await settle(app, pilot)
        assert "RELEASED" in text_of(app, "#chain")
        signatures = app.screen.query_one("#signatures")
        rows = [signatures.get_row_at(i) for i in range(signatures.row_count)]
        assert any(r[1] == "released" and r[4].startswith("✓ valid") for r in rows), rows
        await pilot.press("f9")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "LabelScreen"
        await pilot.press("f2")
        await settle(app, pilot)
        assert "final label(s) written to" in text_of(app, "#output")
        pdf = tmp_path / "printed" / "EASC-D001-labels.pdf"
        assert pdf.read_bytes().startswith(b"%PDF")
        label = app.screen.printed[0]
        # what a barcode reader gets from the printed page: every Code 128 symbol on it
        import pypdfium2
        import zxingcpp

        page = pypdfium2.PdfDocument(pdf.read_bytes())[0]
        symbols = zxingcpp.read_barcodes(page.render(scale=300 / 72).to_pil())
        linear = [b.text for b in symbols if "128" in str(b.format)]
        assert sorted(linear) == sorted(
            [label.din_data, label.product_code_data, label.expiry_data]
        ), linear
        for data in linear:
            await pilot.press(*data, "enter")
        await pilot.press("enter")
        await settle(app, pilot)
        assert text_of(app, "#scan-verdict").startswith("✓ PASS")
        # a wrong expiry scanned: the screen says exactly what differs
        wrong = label.expiry_data[:-1] + ("0" if label.expiry_data[-1] != "0" else "1")
        await pilot.press(*label.din_data, "enter", *label.product_code_data, "enter")
        await pilot.press(*wrong, "enter", "enter")
        await settle(app, pilot)
        verdict = text_of(app, "#scan-verdict")
        assert verdict.startswith("✗ FAIL") and "differs" in verdict
        await pilot.press("f2")  # a second print is refused: it must be a reprint
        await settle(app, pilot)
        # the reprint of a released label is approved by QA: the signature dialog asks
        await pilot.press("f4")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "SignatureDialog"
        await pilot.press(*"label smudged", "enter", "enter", *"demo-qa1-pass", "enter")
        await settle(app, pilot)
        assert "reprinted final label(s) written to" in text_of(app, "#output")
        assert app.screen.printed[0].reprint
    view = batch_view(demo_db, "EASC-D001").to_dict()
    assert view["status"] == "released"
    assert view["release_decisions"][-1]["decided_by"]["username"] == "qa1"


@pytest.mark.requirement("GMP-08")
@pytest.mark.requirement("GMP-11")
@pytest.mark.requirement("GMP-28")
@run_async
async def test_qa_investigates_and_closes_the_oos_deviation_with_a_signature(demo_db):
    from cellbatch.services.queries.deviations import list_deviations

    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(100, 40)) as pilot:
        await log_in(app, pilot, "qa1")
        deviations = app.screen.query_one("#deviations")
        assert deviations.row_count == 1
        assert deviations.get_row_at(0)[0] == "FUC-D001"
        deviations.focus()
        await pilot.press("enter")  # opens the review of the batch the deviation is about
        await settle(app, pilot)
        assert type(app.screen).__name__ == "ReviewScreen"
        assert "NOT ready" in text_of(app, "#verdict")
        exceptions = app.screen.query_one("#exceptions")
        exceptions.focus()
        await pilot.press("enter")  # the first exception, the OOS result, opens the QC tab
        await settle(app, pilot)
        assert type(app.screen).__name__ == "BatchScreen"
        assert app.screen.query_one("#tabs").active == "tab-qc"
        await pilot.press("escape")
        await settle(app, pilot)
        await pilot.press("f8")  # closing before the investigation is refused, with the reason
        await settle(app, pilot)
        await pilot.press(*"demo-qa1-pass", "enter")
        await settle(app, pilot)
        assert list_deviations(demo_db, "FUC-D001", status="open")
        # the refusal is shown in the signature dialog, which stays open until Esc
        assert text_of(app, "#sig-status").startswith("✗ Not signed: ")
        await pilot.press("escape")
        await settle(app, pilot)
        await pilot.press("f7")
        await settle(app, pilot)
        for text in ("major", "staining lot checked", "short incubation", "retrain; retest"):
            await pilot.press(*text, "enter")
        await pilot.press("enter")  # no reason: nothing recorded is changed
        await settle(app, pilot)
        assert type(app.screen).__name__ == "ReviewScreen"
        await pilot.press("f8")  # the investigator may not close it (GMP-28)
        await settle(app, pilot)
        await pilot.press(*"demo-qa1-pass", "enter")
        await settle(app, pilot)
        assert list_deviations(demo_db, "FUC-D001", status="open")
        assert text_of(app, "#sig-status").startswith("✗ Not signed: ")
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(100, 40)) as pilot:  # another QA officer closes it
        await log_in(app, pilot, "qa2")
        app.screen.query_one("#deviations").focus()
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.press("f8")
        await settle(app, pilot)
        await pilot.press(*"demo-qa2-pass", "enter")
        await settle(app, pilot)
    assert not list_deviations(demo_db, "FUC-D001", status="open")
    closed = list_deviations(demo_db, "FUC-D001", status="closed")[0]
    assert closed.closed_by == "qa2" and closed.classification == "major"


@pytest.mark.requirement("GMP-10")
@run_async
async def test_scanned_vial_positions_are_checked_against_the_bank_stock(demo_db):

    tech1 = authenticate(demo_db, "tech1", "demo-tech1-pass")
    next_demo_dose(demo_db, tech1)
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(100, 40)) as pilot:
        await log_in(app, pilot, "tech2")
        await pilot.press(*"EASC-D002", "enter")
        await settle(app, pilot)
        await pilot.press("f2")
        await settle(app, pilot)
        form = app.screen
        assert form.form.kind == "thaw"
        form.query_one("#f-vials", Input).value = "2"
        vials = form.query_one("#f-vial_numbers", Input)
        await settle(app, pilot)
        stock = text_of(app, "#vial-list")  # the vials in stock with their positions
        assert "In stock: " in stock and "5 (box 12 / position 5)" in stock, stock
        assert not re.search(r"(?<!\d)1 \(", stock.split("In stock: ")[1])  # went to EASC-D001
        vials.focus()
        # each scan joins the list; a wrong or repeated one stays in the field, selected,
        # and the list already scanned is kept
        for scan in ("5", "1", "5", "6", "7"):
            vials.value = ""
            await pilot.press(*scan, "enter")
            await settle(app, pilot)
            if scan == "1":
                hint = text_of(app, "#h-vial_numbers")
                assert "not in stock" in hint and "EASC-D001" in hint
                assert vials.selected_text == "1" and form.scanned == ["5"]
            if scan == "5" and form.scanned == ["5"] and vials.value:
                assert "twice" in text_of(app, "#h-vial_numbers")
        assert form.scanned == ["5", "6", "7"] and vials.value == ""
        assert "Scanned: 5, 6, 7" in text_of(app, "#vial-list")
        assert "3 vial numbers scanned for 2" in text_of(app, "#preview")
        assert form.query_one("#save", Button).disabled
        await pilot.press("ctrl+r")  # the last one off the list
        await settle(app, pilot)
        assert form.scanned == ["5", "6"] and "Scanned: 5, 6" in text_of(app, "#vial-list")
        await pilot.press("enter")  # nothing new: on to the next field
        assert app.focused is not vials
        await fill_form(
            app,
            pilot,
            {
                "total_cells": "1.2e8 cells",
                "viability": "88 %",
                "lot_wash-solution": "DPBS-88812",
            },
        )
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert "RECORDED" in text_of(app, "#preview"), text_of(app, "#form-error")
        assert "vial numbers: 5, 6" in text_of(app, "#preview")  # read as written, not [5, 6]
        assert "[" not in text_of(app, "#preview")
    assert batch_view(demo_db, "EASC-D002").to_dict()["thaw"]["vial_numbers"] == [5, 6]


@run_async
async def test_a_batch_that_does_not_exist_is_a_message_not_a_traceback(demo_db):
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "tech1")
        await pilot.press(*"NO-SUCH-BATCH", "enter")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "BatchScreen"
        assert "✗" in text_of(app, "#chain") and "NO-SUCH-BATCH" in text_of(app, "#chain")
        await pilot.press("escape")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "HomeScreen"


async def fill_form(app, pilot, values: dict[str, str]) -> None:
    """Type each value into its field of the open entry form."""
    for name, value in values.items():
        app.screen.query_one(f"#f-{name}", Input).value = value
    await settle(app, pilot)


@pytest.mark.requirement("GMP-23")
@run_async
async def test_harvest_and_fill_forms_save_through_the_services(new_bank):
    from datetime import timedelta

    from cellbatch.services.commands import steps

    tech1 = authenticate(new_bank, "tech1", "demo-tech1-pass")
    seed_lots = ["AMEM-24K118", "HPL-2611-07", "TRYPLE-3320"]
    steps.seed(
        new_bank,
        tech1,
        "EASC-B002",
        vessel="CS2",
        vessels=1,
        cells="3.8e6 cells",
        materials=seed_lots,
    )
    app = build_app(new_bank.url, idle_lock_seconds=3600)
    async with app.run_test(size=(100, 40)) as pilot:
        await log_in(app, pilot, "tech2")
        app.open_batch("EASC-B002")
        await settle(app, pilot)
        await pilot.press("f2")  # harvest is the only step due
        await settle(app, pilot)
        assert app.screen.form.kind == "harvest"
        await fill_form(
            app,
            pilot,
            {
                "confluence": "85 %",
                "total_cells": "4.1e7 cells",
                "viability": "80 %",  # below the SOP's 85 %: recorded, flagged, not refused
                "lot_dissociation-reagent": "TRYPLE-3320",
                "lot_wash-solution": "DPBS-88812",
            },
        )
        assert text_of(app, "#h-viability").startswith("⚠")
        assert "PD this passage" in text_of(app, "#preview")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert "RECORDED" in text_of(app, "#preview"), text_of(app, "#form-error")
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.press("escape")
        await settle(app, pilot)
        app.open_batch("FUC-D001")
        await settle(app, pilot)
        await pilot.press("f2")
        await settle(app, pilot)
        assert app.screen.form.kind == "fill"
        # filled inside the SOP's hour after fucosylation, however old the demo template is
        fucosylated = datetime.fromisoformat(
            batch_view(new_bank, "FUC-D001").to_dict()["fucosylation"]["end"].replace("Z", "+00:00")
        )
        await fill_form(
            app,
            pilot,
            {
                "volume": "10 mL",
                "viable_cells": "4.1 x 10^7 cells",
                "lot_excipient": "SAL-HSA-0915",
                "at": (fucosylated + timedelta(minutes=20)).isoformat(timespec="minutes"),
            },
        )
        assert "within the window" in text_of(app, "#preview")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert "RECORDED" in text_of(app, "#preview"), text_of(app, "#form-error")
    harvest = batch_view(new_bank, "EASC-B002").to_dict()["steps"][-1]
    assert harvest["kind"] == "harvest" and harvest["recorded_by"]["username"] == "tech2"
    assert harvest["values"]["viability"]["value"] == pytest.approx(80)
    fill = batch_view(new_bank, "FUC-D001").to_dict()["fill"]
    assert fill["viable_cells"]["value"] == pytest.approx(4.1e7)
    assert batch_view(new_bank, "FUC-D001").to_dict()["bag"] is not None


@run_async
async def test_fucosylation_form_checks_the_incubation_time_and_saves(demo_db):
    from datetime import timedelta

    from cellbatch.services.commands import steps
    from cellbatch.services.commands.batches import start_dose

    tech1 = authenticate(demo_db, "tech1", "demo-tech1-pass")
    now = datetime.now(UTC)
    start_dose(
        demo_db,
        tech1,
        "FUC-D002",
        parent="BMMSC-B001",
        sop_id="SOP-FUC-BMMSC-DOSE",
        recipient="EB-P001",
        weight="20 kg",
        dose="2 x 10^6 cells/kg",
        infusion=2,
        at=now - timedelta(hours=2),
    )
    steps.thaw(
        demo_db,
        tech1,
        "FUC-D002",
        vials=2,
        total_cells="5e7 cells",
        viability="88 %",
        materials=["DPBS-88812"],
        at=now - timedelta(hours=1, minutes=30),
    )
    start, end = now - timedelta(minutes=95), now - timedelta(minutes=5)
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(100, 40)) as pilot:
        await log_in(app, pilot, "tech2")
        app.open_batch("FUC-D002")
        await settle(app, pilot)
        await pilot.press("f2")
        await settle(app, pilot)
        assert app.screen.form.kind == "fucosylation"
        await fill_form(
            app,
            pilot,
            {
                "enzyme_concentration": "60 ug/mL",
                "gdp_fucose_concentration": "1 mM",
                "cell_concentration": "2 x 10^7 cells/mL",
                "volume": "3 mL",
                "temperature": "37 degC",
                "lot_fucosyltransferase": "FTVII-0042",
                "lot_gdp-fucose": "GDPF-1187",
                "lot_buffer": "HBSS-HSA-220",
                "start": start.isoformat(timespec="minutes"),
                "end": end.isoformat(timespec="minutes"),
            },
        )
        assert "Incubation: 90 min ✗" in text_of(app, "#preview")  # SOP allows 30-75 min
        assert app.screen.query_one("#save", Button).disabled
        start = now - timedelta(minutes=65)
        await fill_form(app, pilot, {"start": start.isoformat(timespec="minutes")})
        assert "Incubation: 60 min ✓" in text_of(app, "#preview")
        assert "Infuse by" in text_of(app, "#preview")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert "RECORDED" in text_of(app, "#preview"), text_of(app, "#form-error")
    fuc = batch_view(demo_db, "FUC-D002").to_dict()["fucosylation"]
    assert fuc["duration"]["value"] == pytest.approx(60)


@pytest.mark.requirement("GMP-06")
@run_async
async def test_a_correction_needs_its_reason_and_keeps_the_original(new_bank):
    from cellbatch.services.commands import steps

    tech1 = authenticate(new_bank, "tech1", "demo-tech1-pass")
    entry = steps.seed(
        new_bank,
        tech1,
        "EASC-B002",
        vessel="CS2",
        vessels=1,
        cells="3.8e6 cells",
        materials=["AMEM-24K118", "HPL-2611-07", "TRYPLE-3320"],
    )
    app = build_app(new_bank.url, idle_lock_seconds=3600)
    async with app.run_test(size=(100, 40)) as pilot:
        await log_in(app, pilot, "tech1")
        app.open_batch("EASC-B002")
        await settle(app, pilot)
        await pilot.press("f4")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "CorrectionDialog"
        await pilot.press(*f"E{entry}", "enter", *"viable_cells", "enter", *"3.6e6 cells")
        await pilot.press("enter", "enter")  # no reason given
        await settle(app, pilot)
        assert "reason is mandatory" in text_of(app, "#c-status")
        assert batch_view(new_bank, "EASC-B002").to_dict()["corrections"] == []
        await pilot.press(*"counter recalibrated: recount", "enter")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "BatchScreen"
        assert "corrected: viable_cells" in text_of(app, "#timeline")
    view = batch_view(new_bank, "EASC-B002").to_dict()
    correction = view["corrections"][0]
    assert correction["reason"] == "counter recalibrated: recount"
    assert correction["corrected_by"]["username"] == "tech1"
    assert view["steps"][0]["values"]["viable_cells"]["value"] == pytest.approx(3.6e6)


@run_async
async def test_qc_result_shows_pass_or_fail_in_words_before_saving(new_bank):
    app = build_app(new_bank.url, idle_lock_seconds=3600)
    async with app.run_test(size=(100, 40)) as pilot:
        await log_in(app, pilot, "tech1")
        app.open_batch("EASC-B002")
        await settle(app, pilot)
        await pilot.press("f3")
        await settle(app, pilot)
        dialog = app.screen
        assert type(dialog).__name__ == "QcDialog"
        dialog.query_one("#qc-test", Select).value = "viability-in-process"
        dialog.query_one("#qc-value", Input).focus()
        await pilot.press(*"92 %")
        await settle(app, pilot)
        assert text_of(app, "#qc-verdict").startswith("✓ PASS")
        dialog.query_one("#qc-value", Input).value = ""
        await pilot.press(*"60 %")
        await settle(app, pilot)
        assert text_of(app, "#qc-verdict").startswith("✗ FAIL")
        await pilot.press("enter")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "BatchScreen"
        assert "✗ FAIL (OOS)" in str(app.screen.query_one("#qc").get_row_at(0))
    qc = batch_view(new_bank, "EASC-B002").to_dict()["qc"]
    assert len(qc) == 1 and qc[0]["passed"] is False


@run_async
async def test_typing_before_choosing_the_vessel_or_the_test_is_a_message_not_a_crash(new_bank):
    app = build_app(new_bank.url, idle_lock_seconds=3600)
    notes: list[str] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "tech1")
        app.open_batch("EASC-B002")
        await settle(app, pilot)
        await pilot.press("f2")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "EntryScreen"
        await pilot.press("tab")  # past the vessel, still unchosen
        await pilot.press(*"38", "enter")
        await settle(app, pilot)
        assert app.is_running and type(app.screen).__name__ == "EntryScreen"
        assert "Vessel type" in text_of(app, "#form-error")
        await pilot.press("escape", "escape")
        await settle(app, pilot)
        await pilot.press("f3")
        await settle(app, pilot)
        dialog = app.screen
        assert type(dialog).__name__ == "QcDialog"
        assert "cell-dose-release" not in dialog.tests  # computed from the fill, never typed
        dialog.query_one("#qc-value", Input).focus()
        await pilot.press(*"92")
        await settle(app, pilot)
        assert app.is_running and text_of(app, "#qc-verdict") == "choose the test"
        app.notify = lambda message, **kw: notes.append(message)  # type: ignore[method-assign]
        dialog.query_one("#qc-test", Select).value = "viability-in-process"
        dialog.query_one("#qc-value", Input).value = "60 %"
        await pilot.press("enter")
        await settle(app, pilot)
        assert any("FAIL, out of specification" in n for n in notes), notes
    assert batch_view(new_bank, "EASC-B002").to_dict()["steps"] == []


@run_async
async def test_technician_starts_a_bank_from_a_scanned_tissue_lot(demo_db):
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(100, 40)) as pilot:
        await log_in(app, pilot, "tech1")
        await pilot.press("f4")
        await settle(app, pilot)
        await pilot.press("enter")  # the first choice: an expansion batch
        await settle(app, pilot)
        await pilot.press(*"EASC-B003", "enter", *"TL-ADI-0001", "enter", *"SOP-EASC-EXP", "enter")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "BatchScreen"
        assert "▶ NEXT" in text_of(app, "#timeline")
    assert batch_view(demo_db, "EASC-B003").to_dict()["recorded_by"]["username"] == "tech1"


@run_async
async def test_a_scanned_new_material_lot_is_registered_and_listed_when_expiring(demo_db):
    from cellbatch.services.queries.donors import list_materials

    app = build_app(demo_db.url, idle_lock_seconds=3600)
    soon = (datetime.now(UTC).date()).isoformat()
    async with app.run_test(size=(100, 40)) as pilot:
        await log_in(app, pilot, "tech1")
        await pilot.press("f7")
        await settle(app, pilot)
        await pilot.press(*"DPBS-99001", "enter", *"wash-solution", "enter")
        await pilot.press(*"DPBS without Ca/Mg", "enter", *soon, "enter")
        await settle(app, pilot)
        lots = app.screen.query_one("#lots")
        assert "DPBS-99001" in [lots.get_row_at(i)[0] for i in range(lots.row_count)]
    assert any(m["lot"] == "DPBS-99001" for m in list_materials(demo_db))


@run_async
async def test_a_changed_sop_file_changes_nothing_for_a_running_batch(
    new_bank, tmp_path, monkeypatch
):
    """The form is built from the SOP copy pinned in the database, never the file (issue 11)."""
    import shutil

    from cellbatch.settings import paths

    folder = tmp_path / "sops"
    shutil.copytree(paths().sops_dir, folder)
    monkeypatch.setenv("CELLBATCH_SOPS_DIR", str(folder))
    app = build_app(new_bank.url, idle_lock_seconds=3600)
    notes: list[str] = []
    async with app.run_test(size=(100, 40)) as pilot:
        app.notify = lambda message, **kw: notes.append(str(message))  # type: ignore[method-assign]
        await log_in(app, pilot, "tech1")
        app.open_batch("EASC-B002")
        await settle(app, pilot)
        sop = folder / "SOP-EASC-EXP_v1.0.toml"
        sop.write_text(sop.read_text().replace("max_cumulative_pd = 25", "max_cumulative_pd = 30"))
        await pilot.press("f2")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "EntryScreen", notes
        assert app.screen.sop.expansion.max_cumulative_pd == 25
        assert batch_view(new_bank, "EASC-B002").to_dict()["sop"]["content_hash"] == (
            app.screen.sop.content_hash
        )


@run_async
async def test_typed_brackets_are_shown_literally_never_read_as_markup(new_bank):
    app = build_app(new_bank.url, idle_lock_seconds=3600)
    async with app.run_test(size=(100, 40)) as pilot:
        await log_in(app, pilot, "tech1")
        app.open_batch("EASC-B002")
        await settle(app, pilot)
        await pilot.press("f2")
        await settle(app, pilot)
        app.screen.query_one("#f-vessels", Input).value = "[bold"
        app.screen.query_one("#f-viable_cells", Input).value = "[/] 3e6 [b]cells"
        await settle(app, pilot)
        assert "'[bold'" in text_of(app, "#h-vessels")
        assert text_of(app, "#h-viable_cells").startswith("✗")
        await back_home(app, pilot)
        await pilot.press(*"[X]-1", "enter")  # scanned junk: a message quoting it as typed
        await settle(app, pilot)
        assert "[X]-1" in text_of(app, "#chain")
        assert app.is_running


@run_async
async def test_received_tissue_lot_gets_its_din_shown_and_can_start_a_bank(demo_db):
    from datetime import timedelta

    collected = (datetime.now(UTC) - timedelta(hours=3)).isoformat(timespec="minutes")
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(100, 40)) as pilot:
        await log_in(app, pilot, "tech1")
        await pilot.press("f8")
        await settle(app, pilot)
        for text in ("TL-ADI-0002", "DN-2026-0001", "adipose", "140 g", collected, "6 degC"):
            await pilot.press(*text, "enter")
        await settle(app, pilot)
        summary = text_of(app, "#home-summary")
        assert "TL-ADI-0002: DIN A9999 " in summary and "[" in summary, summary
    tech1 = authenticate(demo_db, "tech1", "demo-tech1-pass")
    start_expansion(demo_db, tech1, "EASC-B009", lot_number="TL-ADI-0002", sop_id="SOP-EASC-EXP")
    view = batch_view(demo_db, "EASC-B009").to_dict()
    assert view["tissue_lot"]["amount"] == "140 g"
    assert view["din"].replace(" ", "") in summary.replace(" ", "")


@run_async
async def test_batch_list_pages_and_filters_by_status(demo_db):
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "qa1")
        await pilot.press("f3")
        await settle(app, pilot)
        table = app.screen.query_one("#batches")
        assert table.row_count == 5  # two banks, today's two doses, RA-P002's given EASC-D000
        assert table.virtual_size.width <= 80  # every column on screen, the SOP wraps
        assert "of 5" in text_of(app, "#page-line")
        await pilot.press("f2", "f2", "f2")  # in process → quarantine → released
        await settle(app, pilot)
        codes = sorted(str(table.get_row_at(i)[0]) for i in range(table.row_count))
        assert codes == ["BMMSC-B001", "EASC-B001", "EASC-D000"]
        assert "RELEASED" in text_of(app, "#page-line")
        await pilot.press("enter")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "BatchScreen"


@run_async
async def test_technician_registers_a_donor(demo_db):
    from cellbatch.services.queries.donors import donor_view

    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "tech2")
        await pilot.press("f9")
        await settle(app, pilot)
        for text in ("DN-2026-0003", "unrelated", "f", "1990"):
            await pilot.press(*text, "enter")
        await settle(app, pilot)
    donor = donor_view(demo_db, "DN-2026-0003")
    assert donor.sex == "F" and donor.eligibility == "pending"


@pytest.mark.requirement("GMP-09")
@run_async
async def test_review_says_when_the_qa_officer_may_not_release_a_ready_batch(demo_db):
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "qa2")
        app.open_batch("EASC-D001")
        await settle(app, pilot)
        await pilot.press("f6")
        await settle(app, pilot)
        verdict = text_of(app, "#verdict")
        assert "READY for release, but not by you: you verified" in verdict, verdict
        await pilot.press("escape", "escape")
        await settle(app, pilot)
        await pilot.press("ctrl+o")
        await settle(app, pilot)
        await log_in(app, pilot, "qa1")
        app.open_batch("EASC-D001")
        await settle(app, pilot)
        await pilot.press("f6")
        await settle(app, pilot)
        assert text_of(app, "#verdict").endswith("✓ READY for release")


@run_async
async def test_a_refused_save_names_the_form_field_not_the_command_line_option(new_bank):
    from datetime import timedelta

    app = build_app(new_bank.url, idle_lock_seconds=3600)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d %H:%M")
    async with app.run_test(size=(100, 40)) as pilot:
        await log_in(app, pilot, "tech1")
        app.open_batch("EASC-B002")
        await settle(app, pilot)
        await pilot.press("f2")
        await settle(app, pilot)
        app.screen.query_one("#f-vessel", Select).value = "CS2"
        await fill_form(
            app,
            pilot,
            {
                "vessels": "1",
                "viable_cells": "3.8 x 10^6 cells",
                "lot_medium": "AMEM-24K118",
                "lot_supplement": "HPL-2611-07",
                "lot_dissociation-reagent": "TRYPLE-3320",
                "at": tomorrow,
            },
        )
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        error = text_of(app, "#form-error")
        assert error.startswith("✗ Not saved: Done at: ") and "in the future" in error, error
        assert "--at" not in error
    assert batch_view(new_bank, "EASC-B002").to_dict()["steps"] == []
