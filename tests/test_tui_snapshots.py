"""Snapshots of the main screens at 80 × 24 and 120 × 40, with time frozen.

The demo is loaded at a fixed moment and the UI's clock is frozen a little later, so
every date, countdown and header time is the same on every run. Rendering is what is
tested here, so these run on one SQLite file (the workflows run on both databases).
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

import pytest
from textual.widgets import Input

from cellbatch.documents.labels import render as render_labels
from cellbatch.services.database import init_database
from cellbatch.services.demo import load_demo
from cellbatch.tui.app import build_app
from cellbatch.tui.clock import FrozenClock

DEMO_AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
"""When the demo data was 'recorded'."""
SIZES = [(80, 24), (120, 40)]


@pytest.fixture(scope="module")
def _frozen_demo(tmp_path_factory, _site_key):
    """The demo at DEMO_AT, sealed under the session's site key, which every test's own
    key file copies (a module fixture is made before a test's environment is set)."""
    path = tmp_path_factory.mktemp("frozen-demo") / "demo.db"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CELLBATCH_KEY_FILE", str(_site_key))
        env.setenv("CELLBATCH_ANCHOR_LOG", str(path.with_suffix(".anchors")))
        db, _ = init_database(f"sqlite:///{path}")
        load_demo(db, now=DEMO_AT, render_labels=render_labels)
        db.dispose()
    return path


@pytest.fixture
def frozen_app(_frozen_demo, tmp_path):
    """A fresh copy of the frozen demo and the app on it, its clock stopped."""
    path = tmp_path / "demo.db"
    shutil.copy(_frozen_demo, path)
    return build_app(
        f"sqlite:///{path}",
        clock=FrozenClock(DEMO_AT.replace(minute=5)),
        idle_lock_seconds=10**6,
        blink=False,
    )


async def settle(pilot) -> None:
    """Let workers finish and the screen update."""
    for _ in range(4):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def log_in(pilot, user: str) -> None:
    """Log in as a demo user."""
    await pilot.press(*user, "enter", *f"demo-{user}-pass", "enter")
    await settle(pilot)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_login_screen(snap_compare, frozen_app, size):
    assert snap_compare(frozen_app, terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_home_technician(snap_compare, frozen_app, size):
    async def before(pilot):
        await log_in(pilot, "tech1")

    assert snap_compare(frozen_app, terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_batch_screen(snap_compare, frozen_app, size):
    async def before(pilot):
        await log_in(pilot, "tech1")
        pilot.app.open_batch("EASC-B001")
        await settle(pilot)

    assert snap_compare(frozen_app, terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_entry_form_fill(snap_compare, frozen_app, size):
    async def before(pilot):
        await log_in(pilot, "tech1")
        pilot.app.open_batch("FUC-D001")
        await settle(pilot)
        await pilot.press("f2")
        await settle(pilot)
        screen = pilot.app.screen
        screen.query_one("#f-volume", Input).value = "10 mL"
        screen.query_one("#f-viable_cells", Input).value = "4.1 x 10^7 cells"
        screen.query_one("#f-lot_excipient", Input).value = "SAL-HSA-0915"
        await settle(pilot)

    assert snap_compare(frozen_app, terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_review_screen(snap_compare, frozen_app, size):
    async def before(pilot):
        await log_in(pilot, "qa1")
        pilot.app.open_batch("FUC-D001")
        await settle(pilot)
        await pilot.press("f6")
        await settle(pilot)

    assert snap_compare(frozen_app, terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_label_screen(snap_compare, frozen_app, size, monkeypatch):
    # the frozen demo's bag expired long ago by the server's clock, so nothing prints here;
    # printing and scanning are exercised in test_tui_workflows on a fresh demo
    monkeypatch.setenv("CELLBATCH_PRINT_DIR", "/tmp/cellbatch-snapshot-print")

    async def before(pilot):
        await log_in(pilot, "tech1")
        pilot.app.open_batch("EASC-D001")
        await settle(pilot)
        await pilot.press("f9")
        await settle(pilot)
        await pilot.press(*"=A999926000001", "enter")
        await settle(pilot)

    assert snap_compare(frozen_app, terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_home_qa(snap_compare, frozen_app, size):
    async def before(pilot):
        await log_in(pilot, "qa1")

    assert snap_compare(frozen_app, terminal_size=size, run_before=before)


def test_idle_lock_screen(snap_compare, frozen_app):
    async def before(pilot):
        await log_in(pilot, "tech1")
        pilot.app.clock.advance(10**6 + 1)
        pilot.app.check_idle()
        await settle(pilot)

    assert snap_compare(frozen_app, terminal_size=(80, 24), run_before=before)


def test_material_lots(snap_compare, frozen_app):
    async def before(pilot):
        await log_in(pilot, "tech1")
        from cellbatch.tui.screens.records import MaterialListScreen

        pilot.app.push_screen(MaterialListScreen())
        await settle(pilot)

    assert snap_compare(frozen_app, terminal_size=(80, 24), run_before=before)


def test_sop_text(snap_compare, frozen_app):
    async def before(pilot):
        await log_in(pilot, "qa1")
        from cellbatch.tui.screens.records import SopTextScreen

        pilot.app.push_screen(SopTextScreen("SOP-FUC-BMMSC-DOSE", "1.0"))
        await settle(pilot)

    assert snap_compare(frozen_app, terminal_size=(80, 24), run_before=before)


def test_start_dose_dialog(snap_compare, frozen_app):
    async def before(pilot):
        await log_in(pilot, "tech1")
        await pilot.press("f4", "down", "enter")
        await settle(pilot)
        await pilot.press(*"EASC-D009", "enter", *"EASC-B001", "enter")
        pilot.app.screen.query_one("#form-weight", Input).value = "20 mL"
        await settle(pilot)

    assert snap_compare(frozen_app, terminal_size=(80, 24), run_before=before)
