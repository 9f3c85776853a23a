"""Every footer binding and every palette command does something; admin workflows."""

from __future__ import annotations

import asyncio
import functools

import pytest
from textual.widgets import DataTable, Input, Static
from textual.worker import WorkerFailed

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
        except WorkerFailed:  # a refusal: the screen shows it
            pass
        await pilot.pause()


async def log_in(app, pilot, user: str) -> None:
    """Type user ID and password."""
    await pilot.press(*user, "enter", *f"demo-{user}-pass", "enter")
    await settle(app, pilot)


class Effects:
    """What the app did: screens pushed or popped, messages shown, workers started."""

    def __init__(self, app) -> None:
        self.app = app
        self.notes: list[str] = []
        self.workers = 0
        original_notify = app.notify
        original_add = app.workers.add_worker

        def notify(message, **kwargs):
            self.notes.append(str(message))
            return original_notify(message, **kwargs)

        def add_worker(worker, **kwargs):
            self.workers += 1
            return original_add(worker, **kwargs)

        app.notify = notify
        app.workers.add_worker = add_worker

    def state(self):
        """A fingerprint of everything a key could change."""
        return (
            tuple(type(s).__name__ for s in self.app.screen_stack),
            len(self.notes),
            self.workers,
            id(self.app.focused),
            self.app.locked,
            self.app.actor.username if self.app.actor else None,
        )


async def press_and_check(app, pilot, effects: Effects, key: str, tested: set) -> None:
    """Press ``key`` on the current screen and require a visible effect."""
    screen = type(app.screen).__name__
    before = effects.state()
    await pilot.press(key)
    await settle(app, pilot)
    assert effects.state() != before, f"{key} on {screen} did nothing"
    tested.add((screen, key))


async def back_to(app, pilot, name: str) -> None:
    """Escape until the named screen is on top."""
    for _ in range(5):
        if type(app.screen).__name__ == name:
            return
        await pilot.press("escape")
        await settle(app, pilot)
    assert type(app.screen).__name__ == name


def declared(*screens) -> set[tuple[str, str]]:
    """(screen, key) of every binding the screens show in the footer."""
    from textual.binding import Binding

    out = set()
    for cls in screens:
        for b in cls.BINDINGS:
            binding = b if isinstance(b, Binding) else Binding(*b)
            if binding.show:
                out.add((cls.__name__, binding.key))
    return out


@run_async
async def test_every_footer_binding_does_something(demo_db, tmp_path, monkeypatch):
    from cellbatch.tui.screens.admin import AdminScreen
    from cellbatch.tui.screens.batch import BatchScreen
    from cellbatch.tui.screens.batch_list import BatchListScreen
    from cellbatch.tui.screens.home import HomeScreen
    from cellbatch.tui.screens.labels import LabelScreen
    from cellbatch.tui.screens.review import ReviewScreen

    monkeypatch.setenv("CELLBATCH_PRINT_DIR", str(tmp_path))
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    tested: set[tuple[str, str]] = set()
    async with app.run_test(size=(100, 40)) as pilot:
        effects = Effects(app)
        await log_in(app, pilot, "admin")
        app.screen.query_one(DataTable).focus()
        await pilot.pause()
        for key in ("f2", "f5", "f6"):  # focus scan, reload, admin screen
            await press_and_check(app, pilot, effects, key, tested)
            if type(app.screen).__name__ == "AdminScreen":
                for admin_key in ("f5", "f2"):
                    await press_and_check(app, pilot, effects, admin_key, tested)
                await back_to(app, pilot, "AdminScreen")
                table = app.screen.query_one("#users", DataTable)
                table.move_cursor(
                    row=[r[0] for r in map(table.get_row_at, range(table.row_count))].index("tech2")
                )
                for admin_key in ("f3", "f4"):
                    await press_and_check(app, pilot, effects, admin_key, tested)
                    await back_to(app, pilot, "AdminScreen")
                await press_and_check(app, pilot, effects, "escape", tested)
        await pilot.press("ctrl+o")  # a technician for the recording keys
        await settle(app, pilot)
        await log_in(app, pilot, "tech1")
        for key in ("f4", "f7", "f8", "f9"):  # new batch, lot, tissue receipt, donor
            await press_and_check(app, pilot, effects, key, tested)
            await back_to(app, pilot, "HomeScreen")
        await press_and_check(app, pilot, effects, "f3", tested)  # batch list
        for key in ("f8", "f7", "f2", "escape"):
            await press_and_check(app, pilot, effects, key, tested)
        app.open_batch("EASC-B001")
        await settle(app, pilot)
        for key in ("f5", "f8", "f7", "f2"):
            await press_and_check(app, pilot, effects, key, tested)
        for key in ("f3", "f4", "f6", "f9"):
            await press_and_check(app, pilot, effects, key, tested)
            await back_to(app, pilot, "BatchScreen")
        await press_and_check(app, pilot, effects, "escape", tested)
        # review and labels of a dose batch
        app.open_batch("EASC-D001")
        await settle(app, pilot)
        await pilot.press("f6")
        await settle(app, pilot)
        for key in ("f5", "f6", "f7", "f8", "f9"):
            await press_and_check(app, pilot, effects, key, tested)
            await back_to(app, pilot, "ReviewScreen")
        await press_and_check(app, pilot, effects, "escape", tested)
        await pilot.press("f9")
        await settle(app, pilot)
        for key in ("f3", "f4", "f5", "f8", "escape"):
            if key == "f5":
                await back_to(app, pilot, "LabelScreen")
            await press_and_check(app, pilot, effects, key, tested)
        await pilot.press("f9")
        await settle(app, pilot)
        await press_and_check(app, pilot, effects, "f2", tested)  # quarantine labels
        await back_to(app, pilot, "HomeScreen")
        for key in ("ctrl+l",):
            await press_and_check(app, pilot, effects, key, tested)
        await pilot.press(*"demo-tech1-pass", "enter")
        await settle(app, pilot)
        await press_and_check(app, pilot, effects, "ctrl+o", tested)
        assert type(app.screen).__name__ == "LoginScreen"
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert app.return_code == 0 or not app.is_running
    expected = declared(
        HomeScreen, BatchListScreen, BatchScreen, ReviewScreen, LabelScreen, AdminScreen
    )
    missing = expected - tested
    assert not missing, f"bindings never exercised: {sorted(missing)}"


@run_async
async def test_every_palette_command_does_something(demo_db):
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(100, 40)) as pilot:
        effects = Effects(app)
        await log_in(app, pilot, "admin")
        app.open_batch("FUC-D001")
        await settle(app, pilot)
        from textual.app import App

        builtin = {c.title for c in App.get_system_commands(app, app.screen)}
        titles = []
        for command in list(app.get_system_commands(app.screen)):
            if command.title in builtin:  # Textual's own (theme, keys, quit...)
                continue
            await back_to_batch(app, pilot)
            before = effects.state()
            app.call_later(command.callback)  # as the palette runs it: inside the app
            await settle(app, pilot)
            assert effects.state() != before, f"palette command {command.title!r} did nothing"
            titles.append(command.title)
            if app.actor is None:
                await log_in(app, pilot, "admin")
            if app.locked:
                await pilot.press(*"demo-admin-pass", "enter")
                await settle(app, pilot)
        for title in ("Home", "All batches", "Record the next step", "Review / verify / release"):
            assert title in titles


async def back_to_batch(app, pilot) -> None:
    """Return to the batch screen of FUC-D001 (reopening it when needed)."""
    for _ in range(4):
        if type(app.screen).__name__ == "BatchScreen":
            return
        if type(app.screen).__name__ in ("HomeScreen", "LoginScreen"):
            break
        await pilot.press("escape")
        await settle(app, pilot)
    if type(app.screen).__name__ != "BatchScreen":
        app.open_batch("FUC-D001")
        await settle(app, pilot)


@pytest.mark.requirement("GMP-15")
@pytest.mark.requirement("GMP-16")
@run_async
async def test_admin_adds_a_user_who_changes_the_one_time_password_at_first_log_in(demo_db):
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(100, 40)) as pilot:
        await log_in(app, pilot, "admin")
        await pilot.press("f6")
        await settle(app, pilot)
        await pilot.press("f2")
        await settle(app, pilot)
        await pilot.press(*"tech3", "enter", *"Noor Haddad", "enter", *"technician", "enter")
        await settle(app, pilot)
        note = str(app.screen.query_one("#admin-note", Static).render())
        assert "tech3 added" in note
        one_time = note.rsplit(": ", 1)[1].strip()
        await pilot.press("ctrl+o")
        await settle(app, pilot)
        await pilot.press(*"tech3", "enter", *one_time, "enter")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "FormDialog"
        new = "a-new-password-42"
        app.screen.query_one("#form-new", Input).value = new
        app.screen.query_one("#form-again", Input).value = new
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.actor is not None and app.actor.username == "tech3"
        assert type(app.screen).__name__ == "HomeScreen"
    tech3 = next(u for u in list_users(demo_db) if u.username == "tech3")
    assert tech3.active and not tech3.must_change_password


def test_cellbatch_alone_and_cellbatch_tui_open_the_ui_on_the_given_database(monkeypatch):
    from cellbatch.cli import app as cli_app
    from cellbatch.tui import app as tui_app

    opened: list[str] = []

    class FakeApp:
        def __init__(self, url):
            self.url = url

        def run(self):
            opened.append(self.url)

    monkeypatch.setattr(tui_app, "build_app", lambda url=None, **kw: FakeApp(url))
    cli_app.main(["--db", "sqlite:///one.db"])
    cli_app.main(["--db", "sqlite:///two.db", "tui"])
    assert opened == ["sqlite:///one.db", "sqlite:///two.db"]


def test_the_log_in_screen_needs_no_database_units_or_pdf_library_to_start():
    import subprocess
    import sys

    code = (
        "import sys, cellbatch.tui.app, cellbatch.tui.screens.login, cellbatch.tui.screens.home\n"
        "print(sorted(m for m in ('sqlalchemy', 'sqlmodel', 'pint', 'reportlab', 'pydantic')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def footer_overflow(app) -> list[str]:
    """Footer keys of the current screen that do not lie wholly inside the terminal's width."""
    from textual.widgets._footer import FooterKey

    width = app.size.width
    keys = list(app.screen.query(FooterKey))
    assert keys, f"no footer keys on {type(app.screen).__name__}"
    palette = [k for k in keys if k.has_class("-command-palette")]
    # the palette key is docked at the right: the others must end before it starts
    limit = palette[0].region.x if palette else width
    return [
        f"{key.key_display} {key.description}"
        for key in keys
        if key.region.width == 0
        or key.region.right > width
        or (key not in palette and key.region.right > limit)
    ]


@run_async
async def test_at_80x24_every_footer_key_is_on_screen(demo_db):
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    seen: dict[str, list[str]] = {}
    async with app.run_test(size=(80, 24)) as pilot:
        for user in ("tech1", "qa1", "admin"):
            await log_in(app, pilot, user)
            seen[f"{user} home"] = footer_overflow(app)
            if user == "admin":
                await pilot.press("f6")
                await settle(app, pilot)
                seen["admin"] = footer_overflow(app)
                await back_to(app, pilot, "HomeScreen")
            else:
                app.open_batch("EASC-D001")
                await settle(app, pilot)
                seen[f"{user} batch"] = footer_overflow(app)
                for key, name in (("f6", "ReviewScreen"), ("f9", "LabelScreen")):
                    await pilot.press(key)
                    await settle(app, pilot)
                    assert type(app.screen).__name__ == name
                    seen[f"{user} {name}"] = footer_overflow(app)
                    await back_to(app, pilot, "BatchScreen")
                await back_to(app, pilot, "HomeScreen")
                await pilot.press("f3")
                await settle(app, pilot)
                seen[f"{user} batch list"] = footer_overflow(app)
                await back_to(app, pilot, "HomeScreen")
            await pilot.press("ctrl+o")
            await settle(app, pilot)
    assert {where: keys for where, keys in seen.items() if keys} == {}
    assert len(seen) == 12


@run_async
async def test_f1_lists_the_screens_own_keys_first_and_esc_closes_it(demo_db):
    app = build_app(demo_db.url, idle_lock_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(app, pilot, "tech1")
        assert type(app.focused).__name__ == "Input"  # the scan field: its editing keys
        await pilot.press("f1")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "KeysDialog"
        lines = str(app.screen.query_one("#keys-text", Static).render()).splitlines()
        assert lines[0].split()[0] == "F2" and "Open batch" in lines[0]
        assert "Everywhere:" in lines and lines.index("Everywhere:") > 3
        assert not any("Delete" in line or "cursor" in line for line in lines)
        await pilot.press("escape")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "HomeScreen"
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Keys   (F1)" in titles and "Keys" not in titles
