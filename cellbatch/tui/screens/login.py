"""Log-in: user ID and password, proven by the authentication service."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Label, Static

from cellbatch.tui.screens.base import AppScreen

if TYPE_CHECKING:
    from cellbatch.domain.users import Actor


class LoginScreen(AppScreen):
    """The first screen: user ID and password."""

    AUTO_FOCUS = "#username"

    def compose_body(self) -> ComposeResult:
        """Title, the two fields and a line for the outcome."""
        with Vertical(id="login-box", classes="box"):
            yield Static("Log in to record GMP work", classes="title")
            yield Label("User ID")
            yield Input(id="username", placeholder="e.g. tech1")
            yield Label("Password")
            yield Input(id="password", password=True, placeholder="password")
            yield Static("Enter: log in · Ctrl+Q: quit", id="login-status", classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in the user field moves on; in the password field it logs in."""
        user = self.query_one("#username", Input)
        password = self.query_one("#password", Input)
        if event.input is user or not user.value.strip():
            (password if user.value.strip() else user).focus()
            return
        self.query_one("#login-status", Static).update("Checking…")
        self.authenticate(user.value.strip(), password.value)

    @work(thread=True, exclusive=True, exit_on_error=False, name="login")
    def authenticate(self, username: str, password: str) -> Actor:
        """Prove who the user is (in a thread)."""
        from cellbatch.services.auth import authenticate

        return authenticate(self.cb_app.database(), username, password)

    def done_login(self, actor: Actor) -> None:
        """Open the user's home (after this handler returns: it replaces this screen)."""
        self.app.call_later(self.cb_app.logged_in, actor)

    def failed_login(self, error: BaseException) -> None:
        """Say why, clear the password and let the user try again."""
        from cellbatch.tui.errors import describe_error

        self.query_one("#login-status", Static).update(f"✗ {describe_error(error)}")
        password = self.query_one("#password", Input)
        password.value = ""
        password.focus()
