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
            "container": "validated shipper 15-25 °C no. 4", "temperature": "21 degC",
            "logger": "TL-0042",
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
        # read outside the bag's storage range (its label's 15–25 °C): refused on its field
        fill(app, {"to": "clin1", "password": "demo-clin1-pass", "temperature": "40 degC"})
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, FormDialog)
        status = text_of(app, "#dialog-status")
        assert "Temperature: 40 °C is outside the bag's storage range 15–25 °C" in status, status
        assert app.screen.focused is app.screen.query_one("#form-temperature", Input)
        fill(app, {"password": "demo-clin1-pass", "temperature": "21 degC"})
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert not isinstance(app.screen, FormDialog)
        shown = text_of(app, "#custody")
        assert "issue: tech1 → clin1, validated shipper 15-25 °C no. 4, logger TL-0042, 21 °C" in (
            shown
        ), shown
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


@run_async
async def test_the_ward_receives_the_bag_with_f12_a_bad_logger_file_names_its_field(
    ward, tmp_path,  # noqa: F811
):  # fmt: skip
    from cellbatch.tui.app import build_app
    from cellbatch.tui.dialogs.form import FormDialog
    from tests.test_receipt import issue, logger_file

    issued = issue(ward)  # to clin1, logger TL-0042, two hours ago
    din, product = label_scans(ward)
    bad = tmp_path / "bad.csv"
    bad.write_text("time,temperature [kg]\n2026-12-02T10:00:00Z,5\n")
    app = build_app(ward.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_dose(app, pilot, "clin1")
        await pilot.press("f12")
        await settle(app, pilot)
        assert isinstance(app.screen, FormDialog)
        fill(app, {"din": din, "product": product, "condition": "intact, sealed",
                   "logger_file": str(bad)})  # fmt: skip
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, FormDialog)  # refused: still open, values kept
        status = text_of(app, "#dialog-status")
        assert "Not saved: Logger file: line 1: the header's unit 'kg'" in status, status
        assert app.screen.focused is app.screen.query_one("#form-logger_file", Input)
        assert app.screen.query_one("#form-condition", Input).value == "intact, sealed"
        fill(app, {"logger_file": str(logger_file(tmp_path, issued, [20.0, 21.1]))})
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert not isinstance(app.screen, FormDialog)
        shown = text_of(app, "#custody")
        assert "receipt: clin1 → clin1, container intact, sealed" in shown, shown
    assert [s.kind for s in custody_chain(ward, "EASC-D001")] == ["issue", "receipt"]


@run_async
async def test_the_accompanying_document_is_printed_from_the_palette(
    ward, tmp_path, monkeypatch,  # noqa: F811
):  # fmt: skip
    import pypdfium2
    import zxingcpp

    from cellbatch.services.commands.custody import issue_bag
    from cellbatch.services.queries.plans import plan_view
    from cellbatch.tui.app import build_app
    from tests.test_bedside import user
    from tests.test_tui_records import palette

    monkeypatch.setenv("CELLBATCH_PRINT_DIR", str(tmp_path))
    pdf = tmp_path / "EASC-D001-bag1-accompanying.pdf"
    app = build_app(ward.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_dose(app, pilot, "tech1")
        await palette(app, pilot, "Print the accompanying document")
        assert not pdf.exists()  # not issued yet: refused, said
        assert any("not issued" in n.message for n in app._notifications), [
            n.message for n in app._notifications
        ]
        issue_bag(ward, user(ward, "tech1"), "clin1", "demo-clin1-pass", label_scans(ward),
                  container="box")  # fmt: skip
        await palette(app, pilot, "Print the accompanying document")
        assert pdf.exists()
    page = pypdfium2.PdfDocument(pdf.read_bytes())[0]
    found = {b.text for b in zxingcpp.read_barcodes(page.render(scale=300 / 72).to_pil())}
    document_din = label_scans(ward)[0][:-2] + "11"  # the document's flags, not the label's
    assert document_din in found and plan_view(ward, "RA-P001").coi in found
