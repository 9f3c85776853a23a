"""The terminal UI application and the one factory that builds it (for the CLI and the tests).

The database is opened in a worker thread, so the log-in screen appears at once; every
database call runs in a thread worker and comes back as a worker result or error.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from textual import events, work
from textual.app import SystemCommand
from textual.await_complete import AwaitComplete
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from cellbatch.domain.security_policy import DEFAULT_POLICY, idle_lock_in_force
from cellbatch.settings import default_database_url, requested_idle_lock_seconds
from cellbatch.tui.clock import Clock, short_time, system_clock
from cellbatch.tui.errors import describe_error
from cellbatch.tui.key_order import KeysInOrder

if TYPE_CHECKING:
    from cellbatch.domain.users import Actor
    from cellbatch.services.database import Database
    from cellbatch.tui.screens.lock import LockScreen


def idle_text(seconds: int) -> str:
    """An idle time as people say it: ``15 min``, ``1 min 30 s``, ``45 s``."""
    minutes, rest = divmod(int(seconds), 60)
    if not minutes:
        return f"{rest} s"
    return f"{minutes} min" + (f" {rest} s" if rest else "")


def database_label(url: str) -> str:
    """A short name of the database for the header: file name or host/database."""
    if url.startswith("sqlite"):
        name = url.rsplit("/", 1)[-1] or "memory"
        return f"{name} (SQLite)"
    rest = url.split("://", 1)[-1].rsplit("@", 1)[-1]
    host, _, name = rest.partition("/")
    return f"{name.split('?')[0]}@{host.split(':')[0]} (PostgreSQL)"


class CellbatchApp(KeysInOrder):
    """cellbatch in the terminal: log in, see your work, record steps, review and release."""

    CSS_PATH = "app.tcss"
    TITLE = "cellbatch"
    # An 80-column footer holds only so many keys: Lock is shown everywhere once logged in,
    # Log out on the home screen and Quit on the log-in screen (their own bindings); all three
    # work on every screen and are in the command palette ("Menu").
    BINDINGS = [
        Binding("ctrl+l", "lock", "Lock", priority=True),
        # priority: they work in dialogs too (and ask first when typed values would be lost)
        Binding("ctrl+o", "logout", "Log out", show=False, priority=True),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
        Binding("ctrl+p", "command_palette", "Menu", show=False, priority=True),
        Binding("f1", "keys", "Keys", show=False),
    ]

    actor: reactive[Actor | None] = reactive(None, init=False)
    """The user logged in (None on the log-in screen)."""
    locked: reactive[bool] = reactive(False, init=False)
    """Whether the idle lock (or Lock) is covering the screen."""

    def __init__(
        self,
        db_url: str,
        *,
        clock: Clock = system_clock,
        idle_lock_seconds: int | None = None,
        blink: bool = True,
    ) -> None:
        super().__init__()
        self.db_url = db_url
        """The database this session works on."""
        self.clock = clock
        """Where the time shown and the idle time come from."""
        self.idle_lock_seconds = idle_lock_seconds or idle_lock_in_force(
            DEFAULT_POLICY, requested_idle_lock_seconds()
        )
        """Seconds without a key press or click after which the screen locks: the security
        policy's (read when the database opens), or shorter if this terminal asks."""
        self._idle_lock_from_policy = idle_lock_seconds is None
        self.blink = blink
        """Whether text cursors blink (off in snapshot tests)."""
        self.last_input = clock()
        """When the user last pressed a key or clicked."""
        self._db: Database | None = None
        self._db_lock = threading.Lock()
        self._warmed_up = threading.Event()
        self._lock_screen: LockScreen | None = None
        self._held_screens: list[tuple[Screen, object]] = []
        self._held_notes: list[tuple[str, dict[str, object]]] = []
        self._question: Screen | None = None
        self._question_about = ""

    # ------------------------------------------------------------------ database
    def database(self) -> Database:
        """The opened database (opened on first use; call from a worker thread)."""
        with self._db_lock:
            if self._db is None:
                from cellbatch.services.database import open_database
                from cellbatch.services.security_policy import idle_lock_seconds

                self._db = open_database(self.db_url)
                if self._idle_lock_from_policy:
                    self.idle_lock_seconds = idle_lock_seconds(self._db)
            return self._db

    @property
    def database_label(self) -> str:
        """Short name of the database for the header."""
        return database_label(self.db_url)

    # ------------------------------------------------------------------ start
    def on_mount(self) -> None:
        """Show the log-in screen and open the database behind it."""
        from cellbatch.tui.screens.login import LoginScreen

        self.push_screen(LoginScreen())
        self.set_interval(1.0, self.check_idle)
        # open the database once the log-in screen is painted, not before: a thread
        # importing SQLAlchemy competes with the first paint for the interpreter
        self.set_timer(0.3, self._warm_up)

    @work(thread=True, exit_on_error=False, name="warm-up", group="warm-up")
    def _warm_up(self) -> None:
        """Open the database, compare the clocks, and import the services while the user types."""
        try:
            from cellbatch.services.trusted_time import clock_report

            report = clock_report(self.database())
            if not report.ok:  # said at once, not only when the first save is refused
                refused = f"Recording refused: {report.problem}"
                self.call_from_thread(self.notify, refused, severity="error", timeout=60)
            import cellbatch.services.auth  # noqa: F401
            import cellbatch.services.queries.batch_view  # noqa: F401
        finally:
            self._warmed_up.set()

    def wait_for_warm_up(self, seconds: float = 30.0) -> None:
        """Block this worker thread until the warm-up's imports are done.

        Two threads importing the same circularly-linked modules at once can each find the
        other's module half made (Python then raises ImportError): a quick log-in while the
        warm-up thread imports the services did exactly that in the browser door.
        """
        self._warmed_up.wait(seconds)

    def on_unmount(self) -> None:
        """Close the database connections."""
        self._stop_typing()
        if self._db is not None:
            self._db.dispose()

    # ------------------------------------------------------------------ session
    def session_line(self, width: int) -> str:
        """The header text: who, role, database, time (shortened to fit ``width``)."""
        now = short_time(self.clock())
        if self.actor is None:
            who = "not logged in"
        elif width >= 100:
            who = f"{self.actor.username} ({self.actor.full_name}) · {self.actor.role.value}"
        else:
            who = f"{self.actor.username} · {self.actor.role.value}"
        lock = " │ LOCKED" if self.locked else ""
        return f" cellbatch │ {who} │ {self.database_label} │ {now}{lock}"

    async def logged_in(self, actor: Actor) -> None:
        """Start the session of ``actor`` on their home screen."""
        from cellbatch.tui.screens.home import HomeScreen

        if self.locked:  # only the lock screen ends a lock (end_lock)
            return
        self.actor = actor
        self.last_input = self.clock()
        while len(self.screen_stack) > 2:
            await self.pop_screen()
        await self.switch_screen(HomeScreen())

    def _ask_first(self, what: str, then) -> bool:
        """With typed values unsaved, ask before ``what`` (True: asked, ``then`` runs on yes).

        The question's first answer, taken by Enter, goes back to the typing; pressing the
        same key again while asked is the yes.
        """
        from cellbatch.tui.dialogs.choice import ChoiceDialog

        unsaved = self.unsaved_entries()
        if not unsaved:
            return False
        if self._question is not None and self.screen is self._question:
            if self._question_about == what:
                self._question = None
                self.screen.dismiss("discard")
            return True  # another key (Ctrl+O on "Quit?") is not the yes to this question
        self._question_about = what
        self._question = ChoiceDialog(
            f"{what}? Typed and not saved: {', '.join(unsaved)}",
            [
                ("back", "Go back to it: nothing is lost"),
                ("discard", f"Discard it and {what.lower()} (or press the key again)"),
            ],
        )

        def answered(choice: str | None) -> None:
            self._question = None
            if choice == "discard":
                self.call_later(then)

        self.push_screen(self._question, answered)
        return True

    async def action_quit(self) -> None:
        """Quit; asks first when typed values would be lost (never while locked)."""
        if self.locked:
            self.refuse_while_locked()
            return
        if self._ask_first("Quit", self.exit):
            return
        self.exit()

    async def action_logout(self) -> None:
        """End the session and show the log-in screen; asks first when typing would be lost."""
        if self.actor is None or self.locked:
            return
        if self._ask_first("Log out", self._log_out):
            return
        await self._log_out()

    async def _log_out(self) -> None:
        from cellbatch.tui.screens.login import LoginScreen

        if self.actor is None or self.locked:
            return
        discarded = self.unsaved_entries()
        self.actor = None
        while len(self.screen_stack) > 2:
            await self.pop_screen()
        await self.switch_screen(LoginScreen())
        if discarded:
            self.notify(f"Logged out; unsaved entry discarded: {', '.join(discarded)}")

    def unsaved_entries(self) -> list[str]:
        """Titles of open forms and dialogs holding typed, unsaved values."""
        return [
            s.entry_title
            for s in self.screen_stack
            if getattr(s, "entry_title", None) and getattr(s, "has_unsaved", False)
        ]

    # ------------------------------------------------------------------ idle lock
    async def on_event(self, event: events.Event) -> None:
        """Note every key press and click as activity, then handle the event."""
        if isinstance(event, events.Key | events.MouseDown):
            self.last_input = self.clock()
        await super().on_event(event)

    def check_idle(self) -> None:
        """Lock the screen when nobody has touched it for the idle time."""
        if self.actor is None or self.locked:
            return
        idle = (self.clock() - self.last_input).total_seconds()
        if idle >= self.idle_lock_seconds:
            self.action_lock(reason=f"locked after {idle_text(self.idle_lock_seconds)} idle")

    def watch_actor(self) -> None:
        """Who is logged in decides which keys the footer offers."""
        self.refresh_bindings()

    def watch_locked(self) -> None:
        """So does the lock."""
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """No key of the app works while locked; lock and log out need someone logged in."""
        if self.locked:
            # the lock screen's own keys are all that work, with typing and Tab / Shift+Tab
            # between its two fields (the focus chain is the lock screen's alone)
            return action in ("focus_next", "focus_previous")
        if action in ("lock", "logout") and self.actor is None:
            return False
        return True

    def action_lock(self, reason: str = "locked by the user") -> None:
        """Cover the screen until the password is given again (or another user logs in)."""
        from cellbatch.tui.screens.lock import LockScreen

        if self.actor is None or self.locked:
            return
        self._lock_screen = LockScreen(self.actor, reason)
        self.locked = True
        super().push_screen(self._lock_screen)

    def end_lock(self, actor: Actor) -> None:
        """The lock screen proved ``actor``: resume their session, or start theirs instead.

        The only way the lock comes off: called by the lock screen once the authentication
        service accepted the user ID and password typed into it.
        """
        lock = self._lock_screen
        if not self.locked or lock is None or self.screen is not lock:
            return
        held_screens, held_notes = self._held_screens, self._held_notes
        self._held_screens, self._held_notes = [], []
        self._lock_screen = None
        self.locked = False
        self.last_input = self.clock()
        super().pop_screen()
        if self.actor is None or actor.username != self.actor.username:
            # another user: what the locked session left waiting is not theirs to see
            self.call_later(self._switch_user, actor)
            return
        self.actor = actor
        for screen, callback in held_screens:
            self.push_screen(screen, callback)
        for message, kwargs in held_notes:
            self.notify(message, **kwargs)

    def refuse_while_locked(self) -> None:
        """Say on the lock screen that nothing but a log-in works while locked."""
        if self._lock_screen is not None:
            self._lock_screen.refused()

    # screens and messages that arrive while locked (a worker finishing behind the lock) wait
    # for the same user's password; nothing is shown or opened over the lock
    def push_screen(self, screen, callback=None, wait_for_dismiss=False, *, mode=None):  # noqa: D102
        if self.locked:
            from cellbatch.tui.screens.base import AppModal, AppScreen

            if isinstance(screen, AppScreen | AppModal) and not wait_for_dismiss:
                self._held_screens.append((screen, callback))
            else:
                self.refuse_while_locked()
            return AwaitComplete.nothing()
        return super().push_screen(screen, callback, wait_for_dismiss, mode=mode)

    def switch_screen(self, screen):  # noqa: D102
        if self.locked:
            self.refuse_while_locked()
            return AwaitComplete.nothing()
        return super().switch_screen(screen)

    def pop_screen(self):  # noqa: D102
        if self.locked:
            self.refuse_while_locked()
            return AwaitComplete.nothing()
        return super().pop_screen()

    async def _switch_user(self, actor: Actor) -> None:
        """Another user logged in at the lock: the first user's session and entry end."""
        assert self.actor is not None
        previous = self.actor.username
        discarded = self.unsaved_entries()
        await self.logged_in(actor)
        if discarded:
            self.notify(
                f"{actor.username} logged in; the unsaved entry of {previous} was discarded: "
                + ", ".join(discarded),
                timeout=15,
            )
        else:
            self.notify(f"{actor.username} logged in; {previous}'s session ended")

    # ------------------------------------------------------------------ errors
    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: str = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Show a message; always as literal text (it may quote what was typed or stored).

        While locked, a message waits for the same user's password (it may name a batch).
        """
        if self.locked:
            self._held_notes.append(
                (message, {"title": title, "severity": severity, "timeout": timeout})
            )
            return
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def show_error(self, error: BaseException) -> None:
        """Show a failure as a message (never a traceback)."""
        self.notify(describe_error(error), title="Not done", severity="error", timeout=12)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Show the failure of any app-level worker as a message."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.show_error(event.worker.error)

    # ------------------------------------------------------------------ palette
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The main actions in the command palette, besides Textual's own; none while locked.

        Every command is wrapped so that, should it run while the screen is locked (a
        palette opened just before the lock), it does nothing but say so.
        """
        if self.locked:
            return
        for command in self._palette(screen):
            yield command._replace(callback=self._unless_locked(command.callback))

    def _unless_locked(self, callback):
        async def guarded() -> None:
            if self.locked:
                self.refuse_while_locked()
                return
            outcome = callback()
            if inspect.isawaitable(outcome):
                await outcome

        return guarded

    def _palette(self, screen: Screen) -> Iterable[SystemCommand]:
        # Screenshot is left out: it would write the screen (patient data) to the working folder;
        # Keys is ours: the screen's keys first, scrollable, Esc closes
        for command in super().get_system_commands(screen):
            if command.title == "Keys":
                yield SystemCommand("Keys   (F1)", "What each key does here", self.action_keys)
            elif command.title != "Screenshot":
                yield command
        if self.actor is None:
            return
        yield SystemCommand("Home", "Your work: batches, windows, lots", self.go_home)
        yield SystemCommand("All batches", "Every batch, paged", self.open_batch_list)
        yield SystemCommand("Lock the screen", "Ask for the password again", self.action_lock)
        yield SystemCommand("Log out", "End this session", self.action_logout)
        if self.actor.role.value == "admin":
            yield SystemCommand("Administration", "Users and SOPs", self.open_admin)
        yield from self._record_commands()
        yield from getattr(screen, "palette_commands", lambda: [])()

    def _record_commands(self) -> Iterable[SystemCommand]:
        """Records the command line shows beyond the work screens (the services decide who)."""
        from cellbatch.tui.screens import records

        def open_screen(kind):
            return lambda: self.push_screen(kind())

        yield SystemCommand(
            "Deviations of every batch", "Open and closed", open_screen(records.DeviationListScreen)
        )
        yield SystemCommand(
            "Material lots", "Kind, name, expiry", open_screen(records.MaterialListScreen)
        )
        yield SystemCommand(
            "Audit trail (whole) and verify",
            "Every change, paged; F2 proves the chain",
            open_screen(records.AuditTrailScreen),
        )
        yield SystemCommand(
            "SOPs: text and approval",
            "Steps, ranges, QC; QA approves",
            open_screen(records.SopListScreen),
        )
        yield SystemCommand("Donor: details, tests, eligibility", "By donor code", self.ask_donor)
        yield SystemCommand(
            "Change my password",
            "The current one, then the new one twice",
            self.change_own_password,
        )

    async def go_home(self) -> None:
        """Back to the home screen; asks first when typed values would be lost."""
        if self.locked:
            self.refuse_while_locked()
            return
        if self._ask_first("Go home", self._go_home):
            return
        await self._go_home()

    async def _go_home(self) -> None:
        if self.locked:
            return
        while len(self.screen_stack) > 2:
            await self.pop_screen()
        refresh = getattr(self.screen, "reload", None)
        if refresh:
            refresh()

    def open_batch_list(self) -> None:
        """Show every batch, a page at a time."""
        from cellbatch.tui.screens.batch_list import BatchListScreen

        self.push_screen(BatchListScreen())

    def open_batch(self, code: str) -> None:
        """Show one batch."""
        from cellbatch.tui.screens.batch import BatchScreen

        self.push_screen(BatchScreen(code))

    def action_keys(self) -> None:
        """Show what each key does on the current screen."""
        from cellbatch.tui.dialogs.keys import KeysDialog

        if not isinstance(self.screen, KeysDialog):
            self.push_screen(KeysDialog(self.screen))

    def ask_donor(self) -> None:
        """Ask for a donor code, then show the donor."""
        from cellbatch.tui.dialogs import checks
        from cellbatch.tui.dialogs.form import DialogField, FormDialog
        from cellbatch.tui.screens.records import DonorScreen

        def find(values: dict[str, object]) -> str:
            from cellbatch.services.queries.donors import donor_view

            return donor_view(self.database(), str(values["code"])).code

        self.push_screen(
            FormDialog(
                "Which donor?",
                [DialogField("code", "Donor code", "scan or type", checks.code(), ("CODE",))],
                save=find,
            ),
            lambda code: code and self.push_screen(DonorScreen(code)),
        )

    def change_own_password(self) -> None:
        """The logged-in user changes their own password (the current one proves who)."""
        from cellbatch.tui.dialogs.form import DialogField, FormDialog

        if self.actor is None:
            return
        username = self.actor.username

        def change(values: dict[str, object]) -> str:
            from cellbatch.domain.errors import InvalidInput
            from cellbatch.services.commands.users import change_password

            if values["new"] != values["again"]:
                raise InvalidInput("again", "the two new passwords differ")
            change_password(self.database(), username, str(values["old"]), str(values["new"]))
            return username

        self.push_screen(
            FormDialog(
                f"New password for {username}",
                [
                    DialogField("old", "Current password", secret=True, names=("--old",)),
                    DialogField("new", "New password", secret=True, names=("--new", "PASSWORD")),
                    DialogField("again", "New password again", secret=True),
                ],
                save=change,
            ),
            lambda user: user and self.notify(f"✓ password of {user} changed"),
        )

    def open_admin(self) -> None:
        """Users and SOPs (admin only)."""
        from cellbatch.tui.screens.admin import AdminScreen

        self.push_screen(AdminScreen())


def build_app(
    db_url: str | None = None,
    *,
    clock: Clock | None = None,
    idle_lock_seconds: int | None = None,
    blink: bool = True,
) -> CellbatchApp:
    """Build the UI on ``db_url`` (default: settings); the same call for CLI and tests.

    ``idle_lock_seconds`` is for tests and benchmarks only (the command line never passes
    it): without it the security policy in the database sets the idle lock.
    """
    return CellbatchApp(
        db_url or default_database_url(),
        clock=clock or system_clock,
        idle_lock_seconds=idle_lock_seconds,
        blink=blink,
    )
