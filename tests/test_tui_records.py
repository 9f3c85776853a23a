"""Everything the command line could do alone, by keyboard in the UI at 80 × 24.

Each capability is reached the way a user reaches it: a key of the screen, or the command
palette (Ctrl+P, type, Enter). The services do the work; the assertions read the record.
"""

from __future__ import annotations

import asyncio
import functools
import json

import pytest
from textual.widgets import DataTable, Input, Static
from textual.worker import WorkerFailed

from cellbatch.services.auth import authenticate
from cellbatch.services.queries.deviations import list_deviations
from cellbatch.services.queries.donors import donor_view
from cellbatch.services.queries.signatures import batch_signatures
from cellbatch.services.queries.users import list_users
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
        except WorkerFailed:
            pass
        await pilot.pause()


async def log_in(app, pilot, user: str, password: str | None = None) -> None:
    """Type user ID and password."""
    await pilot.press(*user, "enter", *(password or f"demo-{user}-pass"), "enter")
    await settle(app, pilot)


async def palette(app, pilot, title: str) -> None:
    """Ctrl+P, type the command's title, Enter: as a user runs a palette command."""
    await pilot.press("ctrl+p")
    await settle(app, pilot)
    await pilot.press(*title)
    await settle(app, pilot)
    await pilot.press("enter")
    await settle(app, pilot)


def text_of(app, selector: str) -> str:
    """What a Static currently shows."""
    return str(app.screen.query_one(selector, Static).render())


def rows_of(app, selector: str = "#records") -> list[list[str]]:
    """The rows of a table on the current screen, as text."""
    table = app.screen.query_one(selector, DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


@pytest.mark.requirement("GMP-08")
@run_async
async def test_qa_opens_a_deviation_from_review_and_sees_every_deviation(demo_db):
    before = len(list_deviations(demo_db))
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "qa1")
        app.open_batch("EASC-D001")
        await settle(app, pilot)
        await pilot.press("f6")
        await settle(app, pilot)
        await pilot.press("f3")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "FormDialog"
        await pilot.press(*"Label printer jammed", "enter", *"bag label reprinted twice", "ctrl+s")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "ReviewScreen"
        assert "NOT ready" in text_of(app, "#verdict")
        await palette(app, pilot, "Deviations of every batch")
        assert type(app.screen).__name__ == "DeviationListScreen"
        rows = rows_of(app)
        assert len(rows) == before + 1
        assert any(r[1] == "EASC-D001" and "Label printer jammed" in r[4] for r in rows)
        await pilot.press("enter")  # the highlighted deviation opens its batch's review
        await settle(app, pilot)
        assert type(app.screen).__name__ == "ReviewScreen"
    opened = [d for d in list_deviations(demo_db, "EASC-D001") if d.status == "open"]
    assert [d.title for d in opened] == ["Label printer jammed"]
    assert opened[0].opened_by == "qa1"


@run_async
async def test_donor_details_tests_and_eligibility_by_keyboard(demo_db):
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "qa1")
        await palette(app, pilot, "Donor: details, tests")
        await pilot.press(*"DN-2026-0001", "enter")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "DonorScreen"
        assert "Eligibility: " in text_of(app, "#donor-details")
        markers = len(donor_view(demo_db, "DN-2026-0001").tests)
        await pilot.press("f2")
        await settle(app, pilot)
        await pilot.press(*"HTLV-I/II Ab", "enter", *"negative", "enter", *"2026-06-01", "enter")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "DonorScreen"
        assert any("HTLV-I/II Ab" in r[0] for r in rows_of(app, "#donor-tests"))
        await pilot.press("f3")
        await settle(app, pilot)
        await pilot.press(*"pending", "enter", *"awaiting the NAT repeat", "enter")
        await settle(app, pilot)
        assert "PENDING" in text_of(app, "#donor-details")
    donor = donor_view(demo_db, "DN-2026-0001")
    assert len(donor.tests) == markers + 1 and donor.eligibility == "pending"


@run_async
async def test_sop_text_and_approval_material_lots_and_the_whole_audit_trail(demo_db):
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "qa1")
        await palette(app, pilot, "SOPs: text and approval")
        assert type(app.screen).__name__ == "SopListScreen"
        rows = rows_of(app)
        assert any(r[0] == "SOP-EASC-EXP" and r[3].startswith("✓ by") for r in rows), rows
        await pilot.press("enter")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "SopTextScreen"
        assert "QC" in text_of(app, "#sop-text") and "critical" in text_of(app, "#sop-text")
        await pilot.press("escape", "f2")  # approve: the signature dialog, the service decides
        await settle(app, pilot)
        assert type(app.screen).__name__ == "SignatureDialog"
        await pilot.press(*"demo-qa1-pass", "enter")
        await settle(app, pilot)
        assert "already" in text_of(app, "#sig-status") or "✗" in text_of(app, "#sig-status")
        await pilot.press("escape", "escape")
        await settle(app, pilot)
        await palette(app, pilot, "Material lots")
        assert type(app.screen).__name__ == "MaterialListScreen"
        assert any(r[0] == "DPBS-88812" for r in rows_of(app))
        await pilot.press("escape")
        await settle(app, pilot)
        await palette(app, pilot, "Audit trail (whole)")
        assert type(app.screen).__name__ == "AuditTrailScreen"
        rows = rows_of(app)
        assert len(rows) == 100 and rows[0][0] == "1"
        # read as words, not JSON (a settings text may hold its own '{range}' placeholder)
        assert [r for r in rows if '{"' in r[2] or "{'" in r[2]] == []
        await pilot.press("f8")
        await settle(app, pilot)
        assert rows_of(app)[0][0] == "101"
        await pilot.press("f2")
        await settle(app, pilot)
        assert text_of(app, "#records-note").startswith("✓ INTACT"), text_of(app, "#records-note")


@run_async
async def test_own_password_user_activation_export_signing_and_vials_in_stock(
    demo_db, tmp_path, monkeypatch
):
    monkeypatch.setenv("CELLBATCH_PRINT_DIR", str(tmp_path / "out"))
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "admin")
        await pilot.press("f6")
        await settle(app, pilot)
        table = app.screen.query_one("#users", DataTable)
        table.focus()
        names = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        table.move_cursor(row=names.index("tech2"))
        await pilot.press("f3", *"left the unit", "enter")
        await settle(app, pilot)
        assert not next(u for u in list_users(demo_db) if u.username == "tech2").active
        await pilot.press("f6", *"back from leave", "enter")
        await settle(app, pilot)
        assert next(u for u in list_users(demo_db) if u.username == "tech2").active
        await pilot.press("escape")
        await settle(app, pilot)
        await palette(app, pilot, "Change my password")
        assert type(app.screen).__name__ == "FormDialog"
        new = "a-new-admin-password-7"
        await pilot.press(*"demo-admin-pass", "enter", *new, "enter", *new, "enter")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "HomeScreen"
        await pilot.press("ctrl+o")
        await settle(app, pilot)
        await log_in(app, pilot, "qa1")
        app.open_batch("EASC-B001")
        await settle(app, pilot)
        vials = rows_of(app, "#vials")  # the bank's vials, those in stock first
        assert vials and vials[0][1] == "✓ in stock" and "position" in vials[0][2]
        assert any(r[1].startswith("thawed for") for r in vials)
        await palette(app, pilot, "Export the record (JSON)")
        exported = json.loads((tmp_path / "out" / "EASC-B001-record.json").read_text())
        assert "EASC-B001" in json.dumps(exported)
        signatures = len(batch_signatures(demo_db, "EASC-B001"))
        app.open_batch("EASC-D001")
        await settle(app, pilot)
        await palette(app, pilot, "Sign a record with a meaning")
        assert type(app.screen).__name__ == "SignatureDialog"
        await pilot.press(*"batch", "enter")
        await settle(app, pilot)
        app.screen.query_one("#sig-choice").value = "reviewed"
        app.screen.query_one("#sig-password", Input).focus()
        await pilot.press(*"demo-qa1-pass", "enter")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "BatchScreen", text_of(app, "#sig-status")
    assert authenticate(demo_db, "admin", new).username == "admin"
    assert len(batch_signatures(demo_db, "EASC-B001")) == signatures
    assert any(
        s.meaning == "reviewed" and s.username == "qa1"
        for s in batch_signatures(demo_db, "EASC-D001")
    )
