"""A small form of text fields, answered with a dictionary (or None when cancelled)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Label, Static

from cellbatch.tui.screens.base import AppModal
from cellbatch.tui.widgets.plain import Plain


class FormDialog(AppModal):
    """Labelled text fields; every field is required."""

    BINDINGS = [
        Binding("ctrl+s", "submit", "OK", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, title: str, fields: list[tuple[str, str]], *, secret: bool = False) -> None:
        super().__init__()
        self.title_text = title
        """What the form is for."""
        self.fields = fields
        """(name, label) of each field."""
        self.secret = secret
        """Whether the fields are passwords."""

    def compose(self) -> ComposeResult:
        """Title and fields."""
        with Vertical(classes="dialog"):
            yield Plain(self.title_text, classes="title")
            for name, label in self.fields:
                yield Label(label)
                yield Input(id=f"form-{name}", password=self.secret)
            yield Plain(
                "Enter on the last field or Ctrl+S: OK · Esc: cancel",
                id="form-status",
                classes="hint",
            )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter moves on; on the last field it submits."""
        if event.input.id == f"form-{self.fields[-1][0]}":
            self.action_submit()
        else:
            self.focus_next()

    def action_submit(self) -> None:
        """Answer, if every field is filled."""
        values = {
            name: self.query_one(f"#form-{name}", Input).value.strip() for name, _ in self.fields
        }
        missing = [label for name, label in self.fields if not values[name]]
        if missing:
            self.query_one("#form-status", Static).update(f"✗ missing: {', '.join(missing)}")
            return
        self.dismiss(values)

    def action_cancel(self) -> None:
        """No answer."""
        self.dismiss(None)
