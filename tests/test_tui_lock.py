"""The lock holds: while locked, no key, palette command or finishing worker reaches a screen.

Each screen of the UI is opened, its palette commands and key bindings are collected, the
screen is locked, and then every one of those keys is pressed and every command run (as the
palette would run it, had it been open when the lock came): the lock screen stays on top
and the screens behind it stay as they were. Only the right password, or another user's
log-in, takes the lock off.
"""

from __future__ import annotations

import asyncio
import functools

import pytest
from textual.widgets import Input, Static
from textual.worker import WorkerFailed

from cellbatch.services.auth import authenticate
from cellbatch.services.commands.batches import start_expansion
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
    for _ in range(3):
        try:
            await app.workers.wait_for_complete()
        except WorkerFailed:  # a refused password: the screen shows it
            pass
        await pilot.pause()


async def log_in(app, pilot, user: str) -> None:
    """Type user ID and password."""
    await pilot.press(*user, "enter", *f"demo-{user}-pass", "enter")
    await settle(app, pilot)


@pytest.fixture
def new_bank(demo_db):
    """The demo plus a new eASC expansion batch EASC-B002 with nothing recorded yet."""
    tech1 = authenticate(demo_db, "tech1", "demo-tech1-pass")
    start_expansion(demo_db, tech1, "EASC-B002", lot_number="TL-ADI-0001", sop_id="SOP-EASC-EXP")
    return demo_db


def keys_of(app) -> list[str]:
    """Every key bound on the current screen, its focused widget and the app."""
    nodes = [app, app.screen]
    if app.screen.focused is not None:
        nodes.append(app.screen.focused)
    keys: list[str] = ["tab", "shift+tab"]
    for node in nodes:
        for key in node._bindings.key_to_bindings:
            if key not in keys:
                keys.append(key)
    return keys


class Behind:
    """What is behind the lock, and every worker started by anything but the lock screen."""

    def __init__(self, app) -> None:
        self.app = app
        self.workers: list[str] = []
        original = app.workers.add_worker

        def add_worker(worker, **kwargs):
            if type(worker.node).__name__ != "LockScreen":
                self.workers.append(worker.name)
            return original(worker, **kwargs)

        app.workers.add_worker = add_worker

    def state(self):
        """The screens (by identity), who is logged in, whether locked."""
        app = self.app
        return (
            tuple(id(s) for s in app.screen_stack),
            app.locked,
            app.actor.username if app.actor else None,
            type(app.screen).__name__,
            app.is_running,
        )


async def open_screen(app, pilot, how: str) -> None:
    """Open one screen (or dialog) of the UI from the home screen."""
    steps = {
        "home": [],
        "new": ["f4"],
        "new-lot": ["f7"],
        "batch-list": ["f3"],
        "batch": ["batch:EASC-B001"],
        "entry": ["batch:EASC-B002", "f2"],
        "qc": ["batch:EASC-B001", "f3"],
        "correct": ["batch:EASC-B001", "f4"],
        "review": ["batch:EASC-D001", "f6"],
        "verify": ["batch:EASC-D001", "f6", "f9"],
        "labels": ["batch:EASC-D001", "f9"],
        "admin": ["f6"],
        "add-user": ["f6", "f2"],
    }[how]
    for step in steps:
        if step.startswith("batch:"):
            app.open_batch(step.split(":", 1)[1])
        else:
            await pilot.press(step)
        await settle(app, pilot)


SCREENS = [
    ("tech1", "home", "HomeScreen"),
    ("tech1", "new", "ChoiceDialog"),
    ("tech1", "new-lot", "FormDialog"),
    ("tech1", "batch-list", "BatchListScreen"),
    ("tech1", "batch", "BatchScreen"),
    ("tech1", "entry", "EntryScreen"),
    ("tech1", "qc", "QcDialog"),
    ("tech1", "correct", "CorrectionDialog"),
    ("tech1", "labels", "LabelScreen"),
    ("qa1", "review", "ReviewScreen"),
    ("qa1", "verify", "SignatureDialog"),
    ("admin", "admin", "AdminScreen"),
    ("admin", "add-user", "FormDialog"),
]


@pytest.mark.requirement("GMP-14")
@run_async
async def test_no_key_or_palette_command_reaches_a_screen_behind_the_lock(new_bank):
    db = new_bank
    app = build_app(db.url, idle_lock_seconds=3600)
    tried: dict[str, int] = {}
    async with app.run_test(size=(80, 24)) as pilot:
        behind = Behind(app)
        user = None
        for who, how, name in SCREENS:
            while len(app.screen_stack) > 2:
                await app.pop_screen()
            await settle(app, pilot)
            if who != user:
                if app.actor is not None:
                    await pilot.press("ctrl+o")
                    await settle(app, pilot)
                await log_in(app, pilot, who)
                user = who
            await open_screen(app, pilot, how)
            assert type(app.screen).__name__ == name, (how, app.screen)
            commands = list(app.get_system_commands(app.screen))
            keys = keys_of(app)
            await pilot.press("ctrl+l")
            await settle(app, pilot)
            assert app.locked and type(app.screen).__name__ == "LockScreen", how
            locked = behind.state()
            started = len(behind.workers)
            assert list(app.get_system_commands(app.screen)) == []  # an empty palette
            for key in keys:
                await pilot.press(key)
                await settle(app, pilot)
                assert behind.state() == locked, f"{key} on {name} reached behind the lock"
                assert not app.screen.query("CommandPalette")
            for command in commands:
                app.call_later(command.callback)  # as the palette runs a command
                await settle(app, pilot)
                assert behind.state() == locked, f"{command.title!r} reached behind the lock"
            assert behind.workers[started:] == [], (name, behind.workers[started:])
            tried[name] = len(keys) + len(commands)
            # a worker finishing behind the lock: its screen and message wait for the password
            app.open_batch("EASC-B001")
            app.notify("batch EASC-B001 saved")
            await settle(app, pilot)
            assert behind.state() == locked
            password = app.screen.query_one("#lock-password", Input)
            password.value = "not-the-password"
            await pilot.press("enter")
            await settle(app, pilot)
            assert behind.state() == locked
            assert "wrong" in str(app.screen.query_one("#lock-status", Static).render())
            await pilot.press(*f"demo-{who}-pass", "enter")
            await settle(app, pilot)
            assert not app.locked and app.actor.username == who
            assert type(app.screen).__name__ == "BatchScreen"  # the held screen, now
            assert app.screen_stack[: len(locked[0]) - 1] == app.screen_stack[:-1]
            await pilot.press("escape")
            await settle(app, pilot)
            assert type(app.screen).__name__ == name, "the screen behind came back as it was"
    assert len(tried) == len({name for _w, _h, name in SCREENS})
    assert min(tried.values()) >= 8


@pytest.mark.requirement("GMP-14")
@run_async
async def test_home_from_the_palette_does_not_lift_the_lock_and_the_idle_lock_still_fires(
    demo_db,
):
    from datetime import UTC, datetime

    from cellbatch.tui.clock import FrozenClock

    clock = FrozenClock(datetime(2026, 11, 22, 9, 0, tzinfo=UTC))
    app = build_app(demo_db.url, clock=clock, idle_lock_seconds=30)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "tech1")
        await pilot.press("ctrl+p")  # the palette is open when the idle lock comes
        await settle(app, pilot)
        assert app.screen.query("CommandPalette") or type(app.screen).__name__ == "CommandPalette"
        home = next(c for c in app.get_system_commands(app.screen_stack[1]) if c.title == "Home")
        clock.advance(31)
        app.check_idle()
        await settle(app, pilot)
        assert app.locked and type(app.screen).__name__ == "LockScreen"
        assert "locked after 30 s idle" in str(app.screen.query_one(".title", Static).render())
        app.call_later(home.callback)
        await settle(app, pilot)
        assert app.locked and type(app.screen).__name__ == "LockScreen"
        assert "only tech1's password" in str(app.screen.query_one("#lock-status").render())
        await pilot.press("ctrl+o", "ctrl+q", "ctrl+l", "ctrl+p", "escape")
        await settle(app, pilot)
        assert app.locked and app.is_running and type(app.screen).__name__ == "LockScreen"
        await pilot.press(*"demo-tech1-pass", "enter")
        await settle(app, pilot)
        assert not app.locked
        await pilot.press("escape")  # the palette that was open
        await settle(app, pilot)
        assert type(app.screen).__name__ == "HomeScreen"
        clock.advance(31)  # the idle lock still works after an unlock
        app.check_idle()
        await settle(app, pilot)
        assert app.locked and type(app.screen).__name__ == "LockScreen"


def test_idle_time_reads_in_minutes_and_seconds():
    from cellbatch.tui.app import idle_text

    assert idle_text(30) == "30 s"
    assert idle_text(900) == "15 min"
    assert idle_text(90) == "1 min 30 s"


@run_async
async def test_the_palette_offers_no_screenshot(demo_db):
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "tech1")
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Home" in titles and "Screenshot" not in titles


@pytest.mark.requirement("GMP-14")
@run_async
async def test_tab_and_shift_tab_reach_the_user_id_at_the_lock(demo_db):
    """Another user's log-in at the lock is typed: Shift+Tab to User ID, Tab to the password."""
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "tech1")
        await pilot.press("ctrl+l")
        await settle(app, pilot)
        assert app.focused.id == "lock-password"
        await pilot.press("shift+tab")
        assert app.focused.id == "lock-user"
        await pilot.press("tab")
        assert app.focused.id == "lock-password"
        await pilot.press("shift+tab", "end", *["backspace"] * 5, *"tech2", "tab")
        await pilot.press(*"demo-tech2-pass", "enter")
        await settle(app, pilot)
        assert not app.locked and app.actor.username == "tech2"
        assert type(app.screen).__name__ == "HomeScreen"
    tech1 = next(u for u in list_users(demo_db) if u.username == "tech1")
    assert tech1.failed_attempts == 0  # nothing meant for User ID went into tech1's password


@run_async
async def test_a_dialog_that_closes_while_locked_does_not_close_the_lock(demo_db):
    # a dialog closes itself when its service call returns; Textual's dismiss pops the top
    # screen, which by then may be the lock: the signature done while locked must not lift it
    import threading

    from cellbatch.services.queries.batch_view import batch_view

    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "qa1")
        app.open_batch("EASC-D001")
        await settle(app, pilot)
        await pilot.press("f6", "f9")
        await settle(app, pilot)
        dialog = app.screen
        assert type(dialog).__name__ == "SignatureDialog"
        go_on, signing = threading.Event(), threading.Event()
        sign = dialog.sign

        def slow_sign(answer):
            signing.set()
            assert go_on.wait(30)
            return sign(answer)

        dialog.sign = slow_sign
        dialog.query_one("#sig-reason", Input).value = "records reviewed, QC within specification"
        dialog.query_one("#sig-password", Input).value = "demo-qa1-pass"
        dialog.action_sign()
        while not signing.is_set():
            await asyncio.sleep(0.01)
        app.action_lock()  # Ctrl+L, or the idle lock, while the service signs
        await pilot.pause()
        assert type(app.screen).__name__ == "LockScreen"
        go_on.set()
        await settle(app, pilot)
        assert app.locked and type(app.screen).__name__ == "LockScreen", app.screen_stack
        await pilot.press(*"demo-qa1-pass", "enter")
        await settle(app, pilot)
        assert not app.locked
        assert dialog not in app.screen_stack, app.screen_stack  # closed once unlocked
        assert type(app.screen).__name__ == "ReviewScreen", app.screen_stack
    assert batch_view(demo_db, "EASC-D001").to_dict()["status"] == "released"
