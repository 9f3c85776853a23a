"""The terminal UI's batch list pages by key, forward and back, at 80x24 (issue 15).

Each page is read after the last batch of the page before (``list_batches(after=...)``,
through the index on ``(started_at, id)``), never by an offset that walks every batch it
skips: the last page of thirty years of batches costs what the first does. Copies of a batch
share its start time, so the pages also prove the id breaks the ties.
"""

from __future__ import annotations

import cellbatch.services.queries.batches as batches
from cellbatch.services.queries.batches import count_batches, list_batches
from cellbatch.tui.app import build_app
from tests.bulk_batches import clone_batches
from tests.test_tui_workflows import log_in, run_async, settle, text_of


def shown(app) -> list[str]:
    table = app.screen.query_one("#batches")
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


@run_async
async def test_batch_list_pages_forward_and_back_by_key(demo_db, monkeypatch):
    for code in ("EASC-D001", "EASC-B001"):
        clone_batches(demo_db, code, 110)
    total = count_batches(demo_db)
    assert total == 225
    pages = [[b.code for b in list_batches(demo_db, offset=n, limit=100)] for n in (0, 100, 200)]
    read: list[dict] = []
    real = batches.list_batches

    def spy(db, **options):
        read.append(options)
        return real(db, **options)

    monkeypatch.setattr(batches, "list_batches", spy)
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "qa1")
        await pilot.press("f3")
        await settle(app, pilot)
        assert shown(app) == pages[0]
        assert "Batches 1–100 of 225" in text_of(app, "#page-line")
        for n, line in ((1, "101–200"), (2, "201–225")):
            await pilot.press("f8")
            await settle(app, pilot)
            assert shown(app) == pages[n]
            assert f"Batches {line} of 225" in text_of(app, "#page-line")
        await pilot.press("f8")  # no page after the last
        await settle(app, pilot)
        assert shown(app) == pages[2]
        for n, line in ((1, "101–200"), (0, "1–100")):
            await pilot.press("f7")
            await settle(app, pilot)
            assert shown(app) == pages[n]
            assert f"Batches {line} of 225" in text_of(app, "#page-line")
        await pilot.press("f8")
        await settle(app, pilot)
        assert shown(app) == pages[1]
    assert read and all(not options.get("offset") for options in read)
    assert [options.get("after") for options in read] == [
        None,
        pages[0][-1],
        pages[1][-1],
        pages[0][-1],
        None,
        pages[0][-1],
    ]
