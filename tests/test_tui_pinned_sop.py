"""The terminal UI reads a batch's SOP from the copy pinned in the database, never from the
SOP folder (issue 11), and its correction form sends the value it showed, so a correction
made from a stale screen is refused (issue 17 point 12)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cellbatch.services.auth import authenticate
from cellbatch.services.commands import corrections
from cellbatch.services.queries import sops as sop_queries
from cellbatch.services.queries.batch_view import batch_view
from cellbatch.tui.app import build_app
from tests.test_tui_workflows import log_in, run_async, settle, text_of

SOPS = Path(__file__).resolve().parents[1] / "sops"


@pytest.fixture
def sops_without_the_dose_files(tmp_path, monkeypatch):
    """A copy of the SOP folder from which both dose SOPs' files were deleted."""
    folder = tmp_path / "sops"
    shutil.copytree(SOPS, folder)
    for name in ("SOP-FUC-BMMSC-DOSE_v1.2.toml", "SOP-EASC-DOSE_v1.1.toml"):
        (folder / name).unlink()
    monkeypatch.setenv("CELLBATCH_SOPS_DIR", str(folder))
    # nothing read before may stand in for the database's copy
    sop_queries._PINNED.clear()
    sop_queries._parse_pinned.cache_clear()
    return folder


@run_async
async def test_home_batch_entry_and_qc_screens_work_without_the_sop_files(
    demo_db, sops_without_the_dose_files
):
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await log_in(app, pilot, "tech1")
        assert type(app.screen).__name__ == "HomeScreen"
        app.open_batch("FUC-D001")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "BatchScreen"
        await pilot.press("f2")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "EntryScreen"
        assert app.screen.sop.label == "SOP-FUC-BMMSC-DOSE v1.2"
        assert [f.name for f in app.screen.form.fields][:2] == ["volume", "viable_cells"]
        await pilot.press("escape")
        await settle(app, pilot)
        await pilot.press("f3")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "QcDialog"
        assert "heca452-in-process" in app.screen.tests


@run_async
async def test_a_correction_from_a_screen_read_before_another_correction_is_refused(demo_db):
    view = batch_view(demo_db, "FUC-D001").to_dict()
    thaw = next(s for s in view["steps"] if s["kind"] == "thaw")
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(100, 40)) as pilot:
        await log_in(app, pilot, "tech1")
        app.open_batch("FUC-D001")
        await settle(app, pilot)
        await pilot.press("f4")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "CorrectionDialog"
        # meanwhile, at another terminal, someone corrects the same value
        sup1 = authenticate(demo_db, "sup1", "demo-sup1-pass")
        corrections.correct(
            demo_db, sup1, "FUC-D001", thaw["id"], field="viability", value="85 %",
            reason="recount", was="86 %",
        )  # fmt: skip
        await pilot.press(*thaw["id"], "enter", *"viability", "enter", *"84 %", "enter")
        await pilot.press(*"read from the wrong counter", "enter")
        await settle(app, pilot)
        assert "changed after you looked" in text_of(app, "#c-status")
        assert "now 85 %" in text_of(app, "#c-status")
    (only,) = batch_view(demo_db, "FUC-D001").to_dict()["corrections"]
    assert only["new_value"] == "85 %"
