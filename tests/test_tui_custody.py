"""Issue and hand-over in the terminal UI: the batch screen's dialogs go through the custody
services, name the form's fields in a refusal, keep what was typed, and show the chain."""

from __future__ import annotations

from textual.widgets import Input

from cellbatch.services.commands.custody import custody_chain
from tests.test_bedside import label_scans, ward  # noqa: F401  (the fixture)
from tests.test_tui_workflows import log_in, run_async, settle, text_of


async def open_dose(app, pilot, user: str) -> None:
    await log_in(app, pilot, user)
    app.open_batch("EASC-D001")
    await settle(app, pilot)


def fill(app, values: dict[str, str]) -> None:
    for name, value in values.items():
        app.screen.query_one(f"#form-{name}", Input).value = value


@run_async
async def test_issue_refused_keeps_the_values_then_issues_and_shows_the_chain(ward):  # noqa: F811
    from cellbatch.tui.app import build_app
    from cellbatch.tui.dialogs.form import FormDialog

    din, product = label_scans(ward)
    app = build_app(ward.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_dose(app, pilot, "tech1")
        assert "not issued" in text_of(app, "#custody")
        await pilot.press("f10")
        await settle(app, pilot)
        assert isinstance(app.screen, FormDialog)
        typed = {
            "din": din, "product": product, "to": "tech1", "password": "demo-tech1-pass",
            "container": "validated shipper 2-8 °C no. 4", "temperature": "6 degC",
        }  # fmt: skip
        fill(app, typed)
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, FormDialog)  # refused: still open
        status = text_of(app, "#dialog-status")
        assert "Not saved: Taken by: a bag is handed to another person" in status, status
        assert "--to" not in status
        assert app.screen.query_one("#form-container", Input).value == typed["container"]
        assert app.screen.focused is app.screen.query_one("#form-to", Input)
        fill(app, {"to": "clin1", "password": "demo-clin1-pass"})
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert not isinstance(app.screen, FormDialog)
        shown = text_of(app, "#custody")
        assert "issue: tech1 → clin1, validated shipper 2-8 °C no. 4, 6 °C" in shown, shown
    chain = custody_chain(ward, "EASC-D001")
    assert [(s.kind, s.handed_over_by, s.taken_by) for s in chain] == [("issue", "tech1", "clin1")]


@run_async
async def test_only_the_holder_hands_over_and_the_chain_grows(ward):  # noqa: F811
    from cellbatch.services.auth import authenticate
    from cellbatch.services.commands.custody import issue_bag
    from cellbatch.tui.app import build_app
    from cellbatch.tui.dialogs.form import FormDialog

    tech1 = authenticate(ward, "tech1", "demo-tech1-pass")
    issue_bag(ward, tech1, "clin1", "demo-clin1-pass", label_scans(ward), container="box")
    din, product = label_scans(ward)
    app = build_app(ward.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_dose(app, pilot, "tech1")
        await pilot.press("f11")
        await settle(app, pilot)
        fill(app, {"din": din, "product": product, "to": "clin2", "password": "demo-clin2-pass"})
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, FormDialog)
        assert "held by clin1: only they hand it over" in text_of(app, "#dialog-status")
        assert app.screen.query_one("#form-din", Input).value == din
    app = build_app(ward.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_dose(app, pilot, "clin1")
        await pilot.press("f11")
        await settle(app, pilot)
        fill(app, {"din": "=%nonsense", "product": product, "to": "clin2",
                   "password": "demo-clin2-pass"})  # fmt: skip
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, FormDialog)
        status = text_of(app, "#dialog-status")
        assert "Not saved: DIN (scan):" in status and "unreadable bag scan" in status, status
        fill(app, {"din": din, "password": "demo-clin2-pass"})
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert not isinstance(app.screen, FormDialog)
        shown = text_of(app, "#custody")
        assert "issue: tech1 → clin1" in shown and "hand-over: clin1 → clin2" in shown, shown
    assert [s.kind for s in custody_chain(ward, "EASC-D001")] == ["issue", "hand-over"]
