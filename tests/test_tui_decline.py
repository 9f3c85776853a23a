"""A verifier who cannot verify an entry declines it with the reason: a deviation opens."""

from __future__ import annotations

import asyncio

import pytest
from textual.widgets import Static
from textual.worker import WorkerFailed

from cellbatch.domain.errors import PermissionDenied
from cellbatch.services.auth import authenticate
from cellbatch.services.commands import steps
from cellbatch.services.commands.batches import start_expansion
from cellbatch.services.commands.verification import decline
from cellbatch.services.queries.audit import list_entries
from cellbatch.services.queries.deviations import list_deviations
from cellbatch.services.queries.verification import verification_status
from cellbatch.tui.app import build_app


@pytest.fixture
def seeded(demo_db):
    """EASC-B002 with its seed recorded by tech1, waiting for a second person."""
    tech1 = authenticate(demo_db, "tech1", "demo-tech1-pass")
    start_expansion(demo_db, tech1, "EASC-B002", lot_number="TL-ADI-0001", sop_id="SOP-EASC-EXP")
    entry = steps.seed(
        demo_db,
        tech1,
        "EASC-B002",
        vessel="CS2",
        vessels=1,
        cells="3.8e6 cells",
        materials=["AMEM-24K118", "HPL-2611-07", "TRYPLE-3320"],
    )
    return demo_db, f"E{entry}"


async def settle(app, pilot) -> None:
    """Let every worker finish and the UI process what they posted."""
    for _ in range(4):
        try:
            await app.workers.wait_for_complete()
        except WorkerFailed:
            pass
        await pilot.pause()


@pytest.mark.requirement("GMP-20")
def test_a_verifier_declines_an_entry_with_the_reason_and_a_deviation_opens(seeded):
    db, ref = seeded
    reason = "cell count sheet not attached"

    async def run() -> str:
        app = build_app(db.url, idle_lock_seconds=3600)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press(*"tech2", "enter", *"demo-tech2-pass", "enter")
            await settle(app, pilot)
            app.open_batch("EASC-B002")
            await settle(app, pilot)
            await pilot.press("f6")
            await settle(app, pilot)
            await pilot.press("f4")
            await settle(app, pilot)
            assert type(app.screen).__name__ == "SignatureDialog"
            await pilot.press(*reason, "enter", "enter", *"demo-tech2-pass", "enter")
            await settle(app, pilot)
            assert type(app.screen).__name__ == "ReviewScreen"
            return str(app.screen.query_one("#verdict", Static).render())

    verdict = asyncio.run(run())
    assert "NOT ready" in verdict
    opened = list_deviations(db, "EASC-B002", status="open")
    assert [d.title for d in opened] == [f"Verification of {ref} declined"]
    assert reason in opened[0].description and opened[0].opened_by == "tech2"
    status = {v.ref: v.status for v in verification_status(db, "EASC-B002")}
    assert status[ref] == "pending"  # declined is not verified
    last = list_entries(db, entity="deviation")[-1]
    assert last.username == "tech2" and reason in (last.reason or "")


def test_the_author_cannot_decline_their_own_entry(seeded):
    db, ref = seeded
    with pytest.raises(PermissionDenied):
        decline(db, "tech1", "demo-tech1-pass", "EASC-B002", ref, "looks wrong")
    assert list_deviations(db, "EASC-B002") == []
