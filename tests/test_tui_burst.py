"""A burst of keys (a barcode scanner, a quick typist) fills the fields exactly as typed.

The burst is handed to the app the way the terminal driver hands it over: one read parsed
into key events, all posted at once, with no pause between them. The last test does the same
through a real terminal: the UI runs in tmux and ``tmux send-keys`` types each burst in one call.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest
from textual._xterm_parser import XTermParser

from cellbatch.services.queries.donors import list_materials
from cellbatch.services.queries.users import list_users
from cellbatch.tui.app import build_app

LOT_BURST = "DPBS-99001\twash-solution\rDPBS no Ca/Mg\t2027-12-31\r"
"""Four fields of the new material lot dialog, moved through by Tab and by Enter: 50 keys."""


def run_async(test):
    """Run an async test body in its own event loop (no async plugin needed)."""

    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return wrapper


async def settle(app, pilot) -> None:
    """Let every worker finish and the UI process what they posted."""
    for _ in range(4):
        await app.workers.wait_for_complete()
        await pilot.pause()


def burst(app, text: str) -> int:
    """Post ``text`` to the app as the terminal driver does with one read: every key at once."""
    parser = XTermParser()
    keys = [*parser.feed(text), *parser.tick()]
    for key in keys:
        key.set_sender(app)
        app.post_message(key)
    return len(keys)


async def wait_for(app, pilot, condition, seconds: float = 20.0) -> None:
    """Settle until ``condition()`` holds (a burst is delivered key by key)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the burst never took effect"
        await settle(app, pilot)


@run_async
async def test_a_log_in_typed_in_one_burst_logs_in(demo_db):
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert burst(app, "tech1\tdemo-tech1-pass\r") == 22
        await wait_for(app, pilot, lambda: app.actor is not None)
        await settle(app, pilot)
        assert app.actor.username == "tech1"
        assert type(app.screen).__name__ == "HomeScreen"
    tech1 = next(u for u in list_users(demo_db) if u.username == "tech1")
    assert tech1.failed_attempts == 0


@pytest.mark.requirement("GMP-10")
@run_async
async def test_a_burst_with_tab_and_enter_inside_fills_each_field_exactly(demo_db):
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"tech1", "enter", *"demo-tech1-pass", "enter")
        await settle(app, pilot)
        await pilot.press("f7")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "FormDialog"
        assert burst(app, LOT_BURST) == len(LOT_BURST) >= 40
        await wait_for(app, pilot, lambda: type(app.screen).__name__ == "HomeScreen")
        await settle(app, pilot)
    lot = next(m for m in list_materials(demo_db) if m["lot"] == "DPBS-99001")
    assert (lot["kind"], lot["name"], lot["expires"]) == (
        "wash-solution",
        "DPBS no Ca/Mg",
        "2027-12-31",
    )


@run_async
async def test_letters_then_a_priority_key_in_one_burst_save_every_letter(demo_db):
    # Ctrl+S is a priority binding: it acts when the app reads it, not when the field does,
    # so it must wait until the letters before it are in their field
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"tech1", "enter", *"demo-tech1-pass", "enter")
        await settle(app, pilot)
        await pilot.press("f7")
        await settle(app, pilot)
        burst(app, LOT_BURST.removesuffix("\r") + "\x13")  # the expiry typed, then Ctrl+S
        await wait_for(app, pilot, lambda: type(app.screen).__name__ == "HomeScreen")
        await settle(app, pilot)
    lot = next(m for m in list_materials(demo_db) if m["lot"] == "DPBS-99001")
    assert lot["expires"] == "2027-12-31"


@run_async
async def test_scanned_batch_code_and_f_key_in_one_burst_act_in_order(demo_db):
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"tech1", "enter", *"demo-tech1-pass", "enter")
        await settle(app, pilot)
        burst(app, "FUC-D001\r\x1bOQ")  # scan, Enter opens the batch, F2 opens its next step
        await wait_for(app, pilot, lambda: type(app.screen).__name__ == "EntryScreen")
        await settle(app, pilot)
        assert app.screen.view.code == "FUC-D001" and app.screen.form.kind == "fill"


def tmux(*args: str) -> str:
    """Run a tmux command on the test's own server socket."""
    done = subprocess.run(["tmux", *args], capture_output=True, text=True, check=True)
    return done.stdout


def test_bursts_through_a_real_terminal(demo_db, tmp_path):
    assert shutil.which("tmux"), "tmux runs the UI in a real terminal"
    socket = str(tmp_path / "tmux.sock")
    name = f"cb-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "TERM": "xterm-256color"}
    command = f"{sys.executable} -m cellbatch --db {demo_db.url}"
    subprocess.run(
        ["tmux", "-S", socket, "new-session", "-d", "-s", name, "-x", "80", "-y", "24", command],
        check=True,
        env=env,
    )

    def screen() -> str:
        return tmux("-S", socket, "capture-pane", "-p", "-t", name)

    def wait(text: str, seconds: float = 60.0) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            shown = screen()
            if text in shown:
                return shown
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared:\n{screen()}")

    try:
        wait("Log in to record GMP work")
        time.sleep(0.5)
        tmux("-S", socket, "send-keys", "-t", name, "-l", "tech1\tdemo-tech1-pass\r")
        wait("tech1 · technician")
        wait("in process")
        tmux("-S", socket, "send-keys", "-t", name, "F7")
        wait("Register a material lot")
        tmux("-S", socket, "send-keys", "-t", name, "-l", LOT_BURST)
        wait("material lot DPBS-99001 registered")
    finally:
        subprocess.run(["tmux", "-S", socket, "kill-server"], check=False)
    lot = next(m for m in list_materials(demo_db) if m["lot"] == "DPBS-99001")
    assert (lot["kind"], lot["name"], lot["expires"]) == (
        "wash-solution",
        "DPBS no Ca/Mg",
        "2027-12-31",
    )
