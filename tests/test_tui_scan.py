"""A bag's DIN barcode scanned into the home scan field opens the bag's batch."""

from __future__ import annotations

import asyncio

from textual.widgets import OptionList
from textual.worker import WorkerFailed

from cellbatch.services.queries.batch_view import batch_view
from cellbatch.tui.app import build_app


async def settle(app, pilot) -> None:
    """Let every worker finish and the UI process what they posted."""
    for _ in range(4):
        try:
            await app.workers.wait_for_complete()
        except WorkerFailed:
            pass
        await pilot.pause()


def test_a_scanned_din_opens_the_bags_batch_and_a_wrong_one_says_so(demo_db):
    din = batch_view(demo_db, "EASC-D001").to_dict()["bag"]["din"]
    notes: list[str] = []

    async def run() -> list[str]:
        app = build_app(demo_db.url, idle_lock_seconds=3600)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press(*"tech1", "enter", *"demo-tech1-pass", "enter")
            await settle(app, pilot)
            app.notify = lambda message, **kw: notes.append(str(message))  # type: ignore[method-assign]
            await pilot.press(*f"={din}00", "enter")  # Data Structure 001: DIN and flags
            await settle(app, pilot)
            # the donation's DIN is on both doses made from it (RA-P002's EASC-D000, given,
            # and EASC-D001): the technician picks which, with the keys
            asked = app.screen
            choices = asked.query_one(OptionList)
            codes = [choices.get_option_at_index(i).id for i in range(choices.option_count)]
            opened = [type(asked).__name__, sorted(codes)]
            choices.focus()
            await pilot.press("home", *["down"] * codes.index("EASC-D001"), "enter")
            await settle(app, pilot)
            opened += [type(app.screen).__name__, getattr(app.screen, "code", "")]
            await pilot.press("escape")
            await settle(app, pilot)
            await pilot.press(*"=A99992600000", "enter")  # too short: said, nothing opens
            await settle(app, pilot)
            return [*opened, type(app.screen).__name__]

    assert asyncio.run(run()) == [
        "ChoiceDialog",
        ["EASC-D000", "EASC-D001"],
        "BatchScreen",
        "EASC-D001",
        "HomeScreen",
    ]
    assert any("DIN" in n and "length" in n for n in notes), notes
