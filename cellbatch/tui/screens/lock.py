"""The idle lock: the password again, or another user logs in instead."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Label, Static

from cellbatch.tui.screens.base import AppModal
from cellbatch.tui.widgets.plain import Plain

if TYPE_CHECKING:
    from cellbatch.domain.users import Actor


class LockScreen(AppModal):
    """Covers everything until user ID and password are given again (21 CFR 11.200)."""

    AUTO_FOCUS = "#lock-password"
    BINDINGS = [Binding("escape", "nothing", show=False, priority=True)]

    def __init__(self, actor: Actor, reason: str) -> None:
        super().__init__()
        self.actor = actor
        """The user whose session is locked."""
        self.reason = reason
        """Why the screen locked (idle, or the user's own Lock)."""

    def compose(self) -> ComposeResult:
        """What happened, user ID (pre-filled) and password."""
        with Vertical(id="lock-box", classes="box"):
            yield Plain(f"🔒 LOCKED — {self.reason}", classes="title")
            yield Plain(
                f"{self.actor.username}: enter your password to continue. Another user may log "
                f"in instead; {self.actor.username}'s unsaved entry is then discarded.",
                classes="hint",
            )
            yield Label("User ID")
            yield Input(self.actor.username, id="lock-user")
            yield Label("Password")
            yield Input(id="lock-password", password=True)
            yield Plain("", id="lock-status", classes="error")

    def action_nothing(self) -> None:
        """Escape does not unlock."""

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter checks the user ID and password."""
        user = self.query_one("#lock-user", Input).value.strip()
        password = self.query_one("#lock-password", Input)
        if not user:
            self.query_one("#lock-user", Input).focus()
            return
        if event.input.id == "lock-user":
            password.focus()
            return
        if not password.value:  # a stray Enter is not a failed log-in
            self.query_one("#lock-status", Static).update("Type the password, then Enter")
            return
        self.authenticate(user, password.value)

    @work(thread=True, exclusive=True, exit_on_error=False, name="unlock")
    def authenticate(self, username: str, password: str) -> Actor:
        """Prove who wants to continue (in a thread)."""
        from cellbatch.services.auth import authenticate

        return authenticate(self.cb_app.database(), username, password)

    def done_unlock(self, actor: Actor) -> None:
        """Hand the session back (or over): the one way the lock comes off."""
        self.cb_app.end_lock(actor)

    def refused(self) -> None:
        """Something tried to act behind the lock: say what unlocks it."""
        if not self.is_mounted:
            return
        self.query_one("#lock-status", Static).update(
            f"✗ locked: only {self.actor.username}'s password, or another user's log-in, "
            "unlocks the screen"
        )

    def failed_unlock(self, error: BaseException) -> None:
        """Stay locked and say why."""
        from cellbatch.tui.errors import describe_error

        self.query_one("#lock-status", Static).update(f"✗ {describe_error(error)}")
        password = self.query_one("#lock-password", Input)
        password.value = ""
        password.focus()
