"""Dialogs check each field as typed and never lose what was typed.

On a refusal by the service a dialog stays open with every value, names the form's field
(never a command-line option) and puts the cursor in that field, its text selected so a
retype or a rescan replaces it. The signature dialog stays open on a wrong password. Every
dialog fits an 80 × 24 terminal with its title on screen.
"""

from __future__ import annotations

import asyncio
import functools
import re

import pytest
from textual.widgets import Input, Static
from textual.worker import WorkerFailed

from cellbatch.services.queries.batch_view import batch_view
from cellbatch.services.queries.batches import list_batches
from cellbatch.services.queries.donors import list_materials
from cellbatch.tui.app import build_app


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
        except WorkerFailed:  # a refusal: the dialog shows it
            pass
        await pilot.pause()


async def log_in(app, pilot, user: str) -> None:
    """Type user ID and password."""
    await pilot.press(*user, "enter", *f"demo-{user}-pass", "enter")
    await settle(app, pilot)


def text_of(app, selector: str) -> str:
    """What a Static currently shows."""
    return str(app.screen.query_one(selector, Static).render())


def fits(app) -> None:
    """The dialog is whole on an 80 × 24 screen: title first, nothing scrolled away."""
    box = app.screen.query_one(".dialog")
    title = app.screen.query_one(".dialog .title")
    assert box.region.y >= 0 and box.region.bottom <= 24, box.region
    assert title.region.y == box.region.y + 1 and title.region.height >= 1
    assert box.scroll_y == 0 and box.max_scroll_y == 0, "the dialog scrolls at 80 x 24"


async def type_fields(app, pilot, values: dict[str, str]) -> None:
    """Type each value into its field, moving on with Enter as a scanner does."""
    for name, value in values.items():
        field = app.screen.query_one(f"#form-{name}", Input)
        field.focus()
        await pilot.pause()
        await pilot.press(*value)
    await settle(app, pilot)


async def refused_and_kept(app, pilot, typed: dict[str, str], field: str, label: str) -> str:
    """Submit; the dialog stays, every value kept, the cursor on ``field``, named ``label``."""
    await pilot.press("ctrl+s")
    await settle(app, pilot)
    assert type(app.screen).__name__ == "FormDialog", "the dialog closed on a refusal"
    for name, value in typed.items():
        assert app.screen.query_one(f"#form-{name}", Input).value == value, name
    status = text_of(app, "#dialog-status")
    assert status.startswith("✗ Not saved: ") and f"{label}: " in status, status
    assert "--" not in status
    focused = app.focused
    assert focused is app.screen.query_one(f"#form-{field}", Input)
    assert focused.selected_text == typed[field]
    return status


DOSE = {
    "code": "EASC-D009",
    "parent": "EASC-B001",
    "sop_id": "SOP-EASC-DOSE",
    "recipient": "RA-P002",
    "weight": "500 kg",
    "dose": "2 x 10^6 cells/kg",
    "infusion": "2",  # RA-P002's day 1 was given six days ago (the demo's EASC-D000)
}


@pytest.mark.requirement("GMP-23")
@run_async
async def test_start_dose_dialog_checks_as_typed_and_keeps_every_value_on_a_refusal(demo_db):
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "tech1")
        await pilot.press("f4", "down", "enter")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "FormDialog"
        fits(app)
        await type_fields(app, pilot, {**DOSE, "weight": "20 mL"})
        hint = text_of(app, "#form-hint-weight")
        assert hint.startswith("✗") and "body mass" in hint, hint  # as typed, before saving
        app.screen.query_one("#form-weight", Input).value = ""
        await type_fields(app, pilot, {"weight": DOSE["weight"]})
        assert text_of(app, "#form-hint-weight").startswith("✓ 500 kg")
        status = await refused_and_kept(app, pilot, DOSE, "weight", "Body weight")
        assert "between 0.5 and 400 kg" in status
        await pilot.press(*"70 kg", "ctrl+s")  # the selected value is replaced by the retype
        await settle(app, pilot)
        assert type(app.screen).__name__ == "BatchScreen"
    assert batch_view(demo_db, "EASC-D009").to_dict()["body_weight"]["value"] == pytest.approx(70)


@run_async
async def test_receive_tissue_dialog_keeps_every_value_on_a_refusal(demo_db):
    typed = {
        "lot": "TL-ADI-0009",
        "donor": "DN-2026-0001",
        "tissue": "adipose",
        "amount": "140 g",
        "collected": "2026-06-01 08:00",
        "temperature": "70 degC",
    }
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "tech1")
        await pilot.press("f8")
        await settle(app, pilot)
        fits(app)
        await type_fields(app, pilot, typed)
        await refused_and_kept(app, pilot, typed, "temperature", "Receipt temperature")


@run_async
async def test_donor_dialog_keeps_every_value_on_a_refusal(demo_db):
    typed = {"code": "DN-2026-0009", "relationship": "unrelated", "sex": "F", "birth_year": "1850"}
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "tech1")
        await pilot.press("f9")
        await settle(app, pilot)
        fits(app)
        await type_fields(app, pilot, typed)
        await refused_and_kept(app, pilot, typed, "birth_year", "Birth year")


@run_async
async def test_material_lot_dialog_keeps_every_value_on_a_refusal(demo_db):
    typed = {"lot": "DPBS-99002", "kind": "wash-solution", "name": "DPBS", "expires": "2099-01-01"}
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "tech1")
        await pilot.press("f7")
        await settle(app, pilot)
        fits(app)
        await type_fields(app, pilot, {**typed, "kind": "wash-solutoin"})
        assert "expected one of" in text_of(app, "#form-hint-kind")
        app.screen.query_one("#form-kind", Input).value = typed["kind"]
        await refused_and_kept(app, pilot, typed, "expires", "Expiry date")
    assert not any(m["lot"] == "DPBS-99002" for m in list_materials(demo_db))


@run_async
async def test_reprint_and_deviation_dialogs_keep_what_was_typed_when_refused(demo_db):
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "tech1")
        app.open_batch("FUC-D001")
        await settle(app, pilot)
        await pilot.press("f9", "f4")  # reprint labels never printed: refused
        await settle(app, pilot)
        assert type(app.screen).__name__ == "FormDialog"
        fits(app)
        await type_fields(app, pilot, {"reason": "label smudged"})
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "FormDialog"
        assert app.screen.query_one("#form-reason", Input).value == "label smudged"
        assert text_of(app, "#dialog-status").startswith("✗ Not saved: ")
        await pilot.press("escape", "escape", "escape")  # typed: the second Esc closes
        await settle(app, pilot)
        await pilot.press("f6")
        await settle(app, pilot)
        await pilot.press("f7")  # a technician may not record the investigation
        await settle(app, pilot)
        assert type(app.screen).__name__ == "FormDialog", (app.screen_stack, app._notifications)
        fits(app)
        typed = {
            "classification": "major",
            "investigation": "staining lot checked",
            "root_cause": "short incubation",
            "capa": "retrain; retest",
        }
        await type_fields(app, pilot, typed)
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "ReviewScreen"
        await pilot.press("f7")  # changing what is recorded needs a reason: refused without
        await settle(app, pilot)
        typed["root_cause"] = "incubation cut short by an alarm"
        await type_fields(app, pilot, typed)
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "FormDialog"
        for name, value in typed.items():
            assert app.screen.query_one(f"#form-{name}", Input).value == value
        status = text_of(app, "#dialog-status")
        assert status.startswith("✗ Not saved: Reason for a change: ") and "--" not in status
        assert app.focused is app.screen.query_one("#form-reason", Input)
        await pilot.press(*"alarm log read", "ctrl+s")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "ReviewScreen"
    from cellbatch.services.queries.deviations import list_deviations

    assert list_deviations(demo_db, "FUC-D001")[0].root_cause == typed["root_cause"]


@pytest.mark.requirement("GMP-13")
@run_async
async def test_the_signature_dialog_stays_open_on_a_wrong_password_with_the_reason(demo_db):
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "qa1")
        app.open_batch("EASC-D001")
        await settle(app, pilot)
        await pilot.press("f6", "f9")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "SignatureDialog"
        fits(app)
        reason = "records reviewed, QC within specification"
        await pilot.press(*reason, "enter", "enter", *"not-my-password", "enter")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "SignatureDialog"
        assert app.screen.query_one("#sig-reason", Input).value == reason
        password = app.screen.query_one("#sig-password", Input)
        assert password.value == "" and app.focused is password
        assert "wrong" in text_of(app, "#sig-status")
        await pilot.press(*"demo-qa1-pass", "enter")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "ReviewScreen"
    assert batch_view(demo_db, "EASC-D001").to_dict()["status"] == "released"


@run_async
async def test_ctrl_q_and_ctrl_o_ask_before_typed_values_are_lost(demo_db):
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "tech1")
        await pilot.press("f9")  # a dialog with typed values
        await settle(app, pilot)
        await type_fields(app, pilot, {"code": "DN-2026-0010"})
        dialog = app.screen
        await pilot.press("ctrl+o")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "ChoiceDialog" and app.actor is not None
        assert "Register a donor" in text_of(app, ".title")
        await pilot.press("enter")  # the first answer: back to the typing
        await settle(app, pilot)
        assert app.screen is dialog and app.actor is not None
        assert dialog.query_one("#form-code", Input).value == "DN-2026-0010"
        await pilot.press("ctrl+q")
        await settle(app, pilot)
        assert app.is_running and type(app.screen).__name__ == "ChoiceDialog"
        await pilot.press("escape")  # no answer is no
        await settle(app, pilot)
        assert app.screen is dialog and app.is_running
        await pilot.press("ctrl+o", "down", "enter")  # discard and log out
        await settle(app, pilot)
        assert app.actor is None and type(app.screen).__name__ == "LoginScreen"
        await log_in(app, pilot, "tech1")
        app.open_batch("FUC-D001")
        await settle(app, pilot)
        await pilot.press("f2")  # the entry form of the fill
        await settle(app, pilot)
        app.screen.query_one("#f-volume", Input).value = "10 mL"
        await pilot.press("ctrl+q")
        await settle(app, pilot)
        assert app.is_running and "fill of FUC-D001" in text_of(app, ".title")
        await pilot.press("ctrl+q")  # the same key again: yes
        await settle(app, pilot)
        assert not app.is_running


@run_async
async def test_the_other_key_on_the_question_is_not_its_yes(demo_db):
    """Ctrl+O on "Quit?" (or Ctrl+Q on "Log out?") neither quits nor logs out: it was not asked."""
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "tech1")
        await pilot.press("f9")
        await settle(app, pilot)
        await type_fields(app, pilot, {"code": "DN-2026-0011"})
        dialog = app.screen
        await pilot.press("ctrl+q", "ctrl+o")  # asked to quit, then the log-out key
        await settle(app, pilot)
        assert app.is_running and app.actor is not None
        assert type(app.screen).__name__ == "ChoiceDialog"
        assert text_of(app, ".title").startswith("Quit?")
        await pilot.press("escape")
        await settle(app, pilot)
        await pilot.press("ctrl+o", "ctrl+q")  # asked to log out, then the quit key
        await settle(app, pilot)
        assert app.is_running and app.actor is not None
        assert text_of(app, ".title").startswith("Log out?")
        await pilot.press("escape")
        await settle(app, pilot)
        assert app.screen is dialog
        assert dialog.query_one("#form-code", Input).value == "DN-2026-0011"


@run_async
async def test_the_new_batch_code_example_has_the_shape_of_the_kind_started(demo_db):
    codes = {b.code: b.kind for b in list_batches(demo_db)}
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "tech1")
        shown = {}
        for kind, keys in (("expansion", ["enter"]), ("dose", ["down", "enter"])):
            await pilot.press("f4", *keys)
            await settle(app, pilot)
            assert type(app.screen).__name__ == "FormDialog"
            shown[kind] = text_of(app, "#form-hint-code")
            await pilot.press("escape")
            await settle(app, pilot)
    for kind, letter in (("expansion", "B"), ("dose", "D")):
        assert shown[kind].startswith("e.g. "), shown
        example = shown[kind].removeprefix("e.g. ")
        assert example not in codes, f"{example} is an existing {codes.get(example)} batch"
        # formed as the codes of that kind already are: product, -B for a bank, -D for a dose
        assert re.fullmatch(rf"[A-Z]+-{letter}\d{{3}}", example), (kind, example)
        same_kind = {c.rsplit("-", 1)[0] for c, k in codes.items() if k == kind}
        assert example.rsplit("-", 1)[0] in same_kind, (kind, example, same_kind)


def test_the_code_example_skips_taken_codes_and_starts_a_kind_from_the_product():
    from cellbatch.tui.queries import example_code

    newest_first = [("FUC-D001", "dose"), ("EASC-D002", "dose"), ("EASC-B001", "expansion")]
    assert example_code("dose", newest_first) == "FUC-D002"
    assert example_code("expansion", newest_first) == "EASC-B002"
    assert example_code("dose", [("EASC-B001", "expansion")]) == "EASC-D001"
    assert example_code("dose", []) == "EASC-D001"
    # newest first, the next number already taken by an older batch: the one after it
    assert example_code("dose", [("FUC-D009", "dose"), ("FUC-D010", "dose")]) == "FUC-D011"


@run_async
async def test_a_refusal_points_to_the_screen_not_to_a_command_line_command(demo_db):
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "tech1")
        await pilot.press("f4", "down", "enter")
        await settle(app, pilot)
        typed = {**DOSE, "weight": "71 kg"}  # RA-P002 weighs 70 kg on record
        await type_fields(app, pilot, typed)
        status = await refused_and_kept(app, pilot, typed, "weight", "Body weight")
    assert "not RA-P002's body weight on record" in status, status
    assert "cellbatch " not in status, status  # the CLI's command, not a place on screen
    assert "Recipients (F10 on the home screen)" in status, status


@run_async
async def test_home_from_the_palette_asks_before_typed_values_are_lost(demo_db):
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "tech1")
        app.open_batch("FUC-D001")
        await settle(app, pilot)
        await pilot.press("f2")  # the entry form of the fill
        await settle(app, pilot)
        form = app.screen
        form.query_one("#f-volume", Input).value = "10 mL"
        await pilot.press("ctrl+p", *"Home")
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "ChoiceDialog", type(app.screen).__name__
        assert "fill of FUC-D001" in text_of(app, ".title")
        await pilot.press("enter")  # the first answer: back to the typing
        await settle(app, pilot)
        assert app.screen is form and form.query_one("#f-volume", Input).value == "10 mL"
        await pilot.press("ctrl+p", *"Home")
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.press("down", "enter")  # discard and go home
        await settle(app, pilot)
        assert type(app.screen).__name__ == "HomeScreen"


@run_async
async def test_enter_after_the_reason_goes_to_the_password_not_the_filled_user_id(demo_db):
    # the user ID is filled in: Enter on it would select it, and the password typed next
    # would replace it, readable on screen
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "qa1")
        app.open_batch("EASC-D001")
        await settle(app, pilot)
        await pilot.press("f6", "f9")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "SignatureDialog"
        await pilot.press(*"records reviewed, QC within specification", "enter")
        await settle(app, pilot)
        assert app.focused is app.screen.query_one("#sig-password", Input)
        await pilot.press(*"demo-qa1-pass", "enter")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "ReviewScreen"
    assert batch_view(demo_db, "EASC-D001").to_dict()["status"] == "released"


async def save_refused(app, pilot, typed: dict[str, str], lot: str) -> str:
    """Type ``typed`` and ``lot`` into the open entry form and save: refused, all kept."""
    for name, value in typed.items():
        app.screen.query_one(f"#{name}", Input).focus()
        await pilot.press(*value)
    next(i for i in app.screen.query(Input) if (i.id or "").startswith("f-lot")).focus()
    await pilot.press(*lot)
    await settle(app, pilot)
    await pilot.press("ctrl+s")
    await settle(app, pilot)
    assert type(app.screen).__name__ == "EntryScreen"
    message = str(app.screen.query_one("#form-error", Static).render())
    assert message.startswith("✗ Not saved: "), message
    for name, value in typed.items():
        assert app.screen.query_one(f"#{name}", Input).value == value
    # shown where it is always seen, whatever the form's scroll
    assert any(message.removeprefix("✗ ") in n.message for n in app._notifications), message
    return message


def in_view(app, selector: str) -> bool:
    """Whether the widget is inside the entry form's visible area."""
    region = app.screen.query_one(selector).region
    return region.height >= 1 and app.screen.query_one("#entry-body").region.contains_region(region)


@run_async
async def test_an_entry_forms_refusal_is_on_screen_at_80x24(demo_db):
    # the refusal is written under the preview, below the bottom of an 80 x 24 screen
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "qa1")  # QA reviews; recording a step is refused on save
        app.open_batch("FUC-D001")
        await settle(app, pilot)
        await pilot.press("f2")  # the fill
        await settle(app, pilot)
        typed = {"f-volume": "26 mL", "f-viable_cells": "40 x 10^6 cells"}
        await save_refused(app, pilot, typed, "SAL-HSA-0915")
        assert in_view(app, "#form-error"), "the refusal is scrolled out of sight"


@run_async
async def test_a_refusal_at_a_field_is_on_screen_at_80x24(demo_db):
    # the line under the preview is off screen (the field's hint grows with the refusal and
    # pushes it down): the cursor goes to the field refused, its verdict beside it
    from datetime import UTC, datetime, timedelta

    from cellbatch.services.auth import authenticate
    from cellbatch.services.commands.batches import start_dose

    tech1 = authenticate(demo_db, "tech1", "demo-tech1-pass")
    start_dose(demo_db, tech1, "EASC-D009", parent="EASC-B001", sop_id="SOP-EASC-DOSE",
               recipient="RA-P002")  # fmt: skip
    later = (datetime.now(UTC) + timedelta(minutes=20)).strftime("%Y-%m-%d %H:%M")
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "tech1")
        app.open_batch("EASC-D009")
        await settle(app, pilot)
        await pilot.press("f2")  # the thaw
        await settle(app, pilot)
        typed = {
            "f-vials": "3",
            "f-total_cells": "280 x 10^6 cells",
            "f-viability": "85 %",
            "f-at": later,
        }
        message = await save_refused(app, pilot, typed, "DPBS-88812")
        field = app.screen.query_one("#f-at", Input)
        assert app.focused is field and field.selected_text == later  # a retype replaces it
        assert in_view(app, "#f-at") and in_view(app, "#h-at")
        assert "in the future" in str(app.screen.query_one("#h-at", Static).render())
    assert "Done at: " in message and "in the future" in message, message
