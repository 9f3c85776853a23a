"""The electronic signature: what is signed and its meaning, user ID and password again."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Label, Select, Static

from cellbatch.tui.screens.base import AppModal
from cellbatch.tui.widgets.plain import Plain


@dataclass(frozen=True)
class SignatureAnswer:
    """What the signer typed (the password goes straight to the service, never stored)."""

    username: str
    password: str
    choice: str
    reason: str


class SignatureDialog(AppModal):
    """Part 11: both components (user ID, password) and the meaning, shown before signing."""

    BINDINGS = [
        Binding("ctrl+s", "sign", "Sign", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(
        self,
        what: str,
        meaning: str,
        username: str,
        *,
        choices: list[tuple[str, str]] | None = None,
        ask_reason: bool = False,
    ) -> None:
        super().__init__()
        self.what = what
        """The record being signed, in words."""
        self.meaning = meaning
        """The meaning of the signature (verified, released, ...)."""
        self.username = username
        """The user ID proposed (the person logged in)."""
        self.choices = choices or []
        """Options to pick from before signing (a QA decision), if any."""
        self.ask_reason = ask_reason
        """Whether a reason must be given."""

    def compose(self) -> ComposeResult:
        """What, meaning, (choice, reason), user ID and password."""
        with Vertical(classes="dialog"):
            yield Plain("Electronic signature", classes="title")
            yield Plain(f"Signing: {self.what}\nMeaning: {self.meaning.upper()}", id="sig-what")
            if self.choices:
                yield Label("Decision")
                yield Select(self.choices, id="sig-choice", allow_blank=False)
            if self.ask_reason:
                yield Label("Reason (mandatory)")
                yield Input(id="sig-reason")
            yield Label("User ID")
            yield Input(self.username, id="sig-user")
            yield Label("Password")
            yield Input(id="sig-password", password=True)
            yield Plain("Ctrl+S or Enter: sign · Esc: cancel", id="sig-status", classes="hint")

    def on_mount(self) -> None:
        """Start where input is needed."""
        first = "#sig-reason" if self.ask_reason else "#sig-password"
        self.query_one(first, Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter on the password signs; elsewhere it moves on."""
        if event.input.id == "sig-password":
            self.action_sign()
        else:
            self.focus_next()

    def action_sign(self) -> None:
        """Hand the answer back, if complete."""
        user = self.query_one("#sig-user", Input).value.strip()
        password = self.query_one("#sig-password", Input).value
        reason = self.query_one("#sig-reason", Input).value.strip() if self.ask_reason else ""
        choice = str(self.query_one("#sig-choice", Select).value) if self.choices else ""
        missing = [
            name
            for name, value in (("user ID", user), ("password", password))
            + ((("reason", reason),) if self.ask_reason else ())
            if not value
        ]
        if missing:
            self.query_one("#sig-status", Static).update(f"✗ missing: {', '.join(missing)}")
            return
        self.dismiss(SignatureAnswer(user, password, choice, reason))

    def action_cancel(self) -> None:
        """Do not sign."""
        self.dismiss(None)
