"""The fill form speaks of this batch: its dose target, its fill-by time, the cells thawed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from textual.widgets import Input, Static
from textual.worker import WorkerFailed

from cellbatch.services.queries.batch_view import batch_view
from cellbatch.tui.app import build_app
from cellbatch.tui.forms import previews
from cellbatch.tui.queries import sop_of_view


async def settle(app, pilot) -> None:
    """Let every worker finish and the UI process what they posted."""
    for _ in range(4):
        try:
            await app.workers.wait_for_complete()
        except WorkerFailed:
            pass
        await pilot.pause()


def test_the_fill_form_shows_the_batch_target_fill_by_and_cells_thawed(demo_db):
    target = batch_view(demo_db, "FUC-D001").to_dict()["target_viable_cells"]["display"]

    async def run() -> tuple[str, str]:
        app = build_app(demo_db.url, idle_lock_seconds=3600)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press(*"tech1", "enter", *"demo-tech1-pass", "enter")
            await settle(app, pilot)
            app.open_batch("FUC-D001")
            await settle(app, pilot)
            await pilot.press("f2")
            await settle(app, pilot)
            assert app.screen.form.kind == "fill"
            placeholder = app.screen.query_one("#f-viable_cells", Input).placeholder
            return placeholder, str(app.screen.query_one("#preview", Static).render())

    placeholder, preview = asyncio.run(run())
    assert placeholder == f"e.g. {target}"  # the recipient's dose, not the SOP's mid-range
    assert f"Dose target: {target}" in preview
    assert "Viable cells after thaw: " in preview
    assert "Fill by (fucosyl.): " in preview


def test_thaw_preview_warns_when_the_cells_thawed_cannot_make_the_dose(demo_db):
    view = batch_view(demo_db, "FUC-D001")
    sop = sop_of_view(view, demo_db)
    now = datetime.now(UTC)
    low = view.dose.target_window.low.value
    short, _ = previews(sop, "thaw", view, {"total_cells": low, "viability": 50.0}, now)
    enough, _ = previews(sop, "thaw", view, {"total_cells": low * 4, "viability": 90.0}, now)
    assert any("fewer than the dose needs" in line for line in short)
    assert not any(line.startswith("⚠") for line in enough)
