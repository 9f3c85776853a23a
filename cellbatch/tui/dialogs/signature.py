"""The electronic signature: what is signed and its meaning, user ID and password again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textual import work
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
    ref: str = ""
    """The record signed, when the dialog asked which (E12, Q5, D3 or batch)."""


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
        sign: Callable[[SignatureAnswer], Any] | None = None,
        ask_ref: bool = False,
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
        self.sign = sign
        """The service call that signs (in a worker); None: answer with what was typed."""
        self.signed = False
        """Whether the service accepted the signature."""
        self.ask_ref = ask_ref
        """Whether the record to sign is asked for (E12, Q5, D3 or batch)."""

    @property
    def entry_title(self) -> str:
        """What is being signed, for the question before quitting or logging out."""
        return f"signature ({self.meaning}) of {self.what.splitlines()[0]}"

    @property
    def has_unsaved(self) -> bool:
        """Whether a reason was typed and not signed."""
        if self.signed or not self.ask_reason:
            return False
        return bool(self.query_one("#sig-reason", Input).value.strip())

    def compose(self) -> ComposeResult:
        """What, meaning, (choice, reason), user ID and password."""
        with Vertical(classes="dialog"):
            yield Plain("Electronic signature", classes="title")
            yield Plain(f"Signing: {self.what}\nMeaning: {self.meaning.upper()}", id="sig-what")
            if self.ask_ref:
                yield Label("Record: E12 (a step), Q5 (a QC result), D3 (a deviation) or batch")
                yield Input(id="sig-ref")
            if self.choices:
                yield Label("Meaning" if self.ask_ref else "Decision")
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
        first = (
            "#sig-ref" if self.ask_ref else "#sig-reason" if self.ask_reason else "#sig-password"
        )
        self.query_one(first, Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter on the password signs; elsewhere it moves on, past a filled-in user ID.

        Stopping on the filled user ID would select it, and the password typed next would
        replace it in plain sight.
        """
        if event.input.id == "sig-password":
            self.action_sign()
            return
        user = self.query_one("#sig-user", Input)
        ahead = [w for w in self.query("Input, Select") if w.focusable]
        after = ahead[ahead.index(event.input) + 1 :] if event.input in ahead else []
        if after[:1] == [user] and user.value.strip():
            self.query_one("#sig-password", Input).focus()
        else:
            self.focus_next()

    def action_sign(self) -> None:
        """Hand the answer back, if complete."""
        user = self.query_one("#sig-user", Input).value.strip()
        password = self.query_one("#sig-password", Input).value
        reason = self.query_one("#sig-reason", Input).value.strip() if self.ask_reason else ""
        choice = str(self.query_one("#sig-choice", Select).value) if self.choices else ""
        ref = self.query_one("#sig-ref", Input).value.strip() if self.ask_ref else ""
        missing = [
            name
            for name, value in (("user ID", user), ("password", password))
            + ((("reason", reason),) if self.ask_reason else ())
            + ((("record", ref),) if self.ask_ref else ())
            if not value
        ]
        if missing:
            self.query_one("#sig-status", Static).update(f"✗ missing: {', '.join(missing)}")
            return
        answer = SignatureAnswer(user, password, choice, reason, ref)
        if self.sign is None:
            self.dismiss(answer)
            return
        self.query_one("#sig-status", Static).update("Signing…")
        self.call_service(answer)

    @work(thread=True, exclusive=True, exit_on_error=False, name="sign")
    def call_service(self, answer: SignatureAnswer) -> Any:
        """Sign through the service (in a thread)."""
        assert self.sign is not None
        return self.sign(answer)

    def done_sign(self, result: Any) -> None:
        """Signed: close with the service's answer."""
        self.signed = True
        self.dismiss(result)

    def failed_sign(self, error: BaseException) -> None:
        """Refused: stay open with the reason and the decision; a wrong password is retyped."""
        from cellbatch.domain.errors import AuthenticationFailed
        from cellbatch.tui.errors import describe_error

        self.query_one("#sig-status", Static).update(f"✗ Not signed: {describe_error(error)}")
        password = self.query_one("#sig-password", Input)
        password.value = ""
        if isinstance(error, AuthenticationFailed):
            password.focus()

    def action_cancel(self) -> None:
        """Do not sign."""
        self.dismiss(None)
