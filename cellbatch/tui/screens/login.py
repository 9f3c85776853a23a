"""Log-in: user ID and password, proven by the authentication service."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Label, Static

from cellbatch.tui.screens.base import AppScreen
from cellbatch.tui.widgets.plain import Plain

if TYPE_CHECKING:
    from cellbatch.domain.users import Actor


class LoginScreen(AppScreen):
    """The first screen: user ID and password."""

    BINDINGS = [Binding("ctrl+q", "app.quit", "Quit", priority=True)]

    AUTO_FOCUS = "#username"

    def compose_body(self) -> ComposeResult:
        """Title, the two fields and a line for the outcome."""
        with Vertical(id="login-box", classes="box"):
            yield Plain("Log in to record GMP work", classes="title")
            yield Label("User ID")
            yield Input(id="username", placeholder="e.g. tech1")
            yield Label("Password")
            yield Input(id="password", password=True, placeholder="password")
            yield Plain("Enter: log in · Ctrl+Q: quit", id="login-status", classes="hint")

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
    def authenticate(self, username: str, password: str) -> Actor | tuple[str, str, str]:
        """Prove who the user is (in a thread).

        A right password that must be changed first (one-time or expired) comes back as
        ``(username, password, why)`` so the screen can ask for a new one.
        """
        self.cb_app.wait_for_warm_up()
        from cellbatch.services.auth import authenticate, password_change_due

        db = self.cb_app.database()
        actor = authenticate(db, username, password, allow_expired=True)
        why = password_change_due(db, actor)  # the password is proven once (one scrypt hash)
        return actor if why is None else (actor.username, password, why)

    def done_login(self, outcome: Actor | tuple[str, str, str]) -> None:
        """Open the user's home, or ask for a new password first."""
        from cellbatch.tui.dialogs.form import FormDialog

        if isinstance(outcome, tuple):
            username, old, why = outcome
            self.query_one("#login-status", Static).update(f"{why.split(':')[0]}: set a new one")
            dialog = FormDialog(
                f"New password for {username}",
                [("new", "New password"), ("again", "New password again")],
                secret=True,
            )
            self.app.push_screen(dialog, lambda values: self._change(username, old, values))
            return
        # after this handler returns: logging in replaces this screen
        self.app.call_later(self.cb_app.logged_in, outcome)

    def _change(self, username: str, old: str, values: dict[str, str] | None) -> None:
        if not values:
            return
        if values["new"] != values["again"]:
            self.query_one("#login-status", Static).update("✗ the two new passwords differ")
            return
        self.change_password(username, old, values["new"])

    @work(thread=True, exclusive=True, exit_on_error=False, name="passwd")
    def change_password(self, username: str, old: str, new: str) -> Actor:
        """Change the password, then log in with the new one (in a thread)."""
        self.cb_app.wait_for_warm_up()
        from cellbatch.services.auth import authenticate
        from cellbatch.services.commands.users import change_password

        db = self.cb_app.database()
        change_password(db, username, old, new)
        return authenticate(db, username, new)

    def done_passwd(self, actor: Actor) -> None:
        """Logged in with the new password."""
        self.app.call_later(self.cb_app.logged_in, actor)

    def failed_passwd(self, error: BaseException) -> None:
        """Say why the new password was refused."""
        self.failed_login(error)

    def failed_login(self, error: BaseException) -> None:
        """Say why, clear the password and let the user try again."""
        from cellbatch.tui.errors import describe_error

        self.query_one("#login-status", Static).update(f"✗ {describe_error(error)}")
        password = self.query_one("#password", Input)
        password.value = ""
        password.focus()
