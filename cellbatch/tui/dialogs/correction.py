"""Correct one recorded value: which entry, which field, the new value and the reason."""

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
    from cellbatch.services.queries.batch_view_model import BatchView


def shown_value(view: BatchView, ref: str, field: str) -> str | None:
    """The value this screen showed for ``ref``'s ``field``: the value being corrected.

    The service refuses the correction if the record holds another value by now (someone
    corrected it after this screen was read).
    """
    ref, field = ref.strip().upper(), field.strip()
    for item in view.steps:
        if item.id == ref:
            value = item.performed_at if field == "at" else item.values.get(field)
            break
    else:
        found = next((q for q in view.qc if q.id == ref), None)
        value = found.value if found is not None and field == "value" else None
    if hasattr(value, "unit"):  # a quantity: its canonical number and unit
        return f"{value.value!r} {value.unit}"
    return None if value is None else str(value)


class CorrectionDialog(AppModal):
    """A correction needs a reason; the original value stays in the record."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]
    AUTO_FOCUS = "#c-entry"

    def __init__(self, view: BatchView) -> None:
        super().__init__()
        self.view = view
        """The batch being corrected."""

    @property
    def entry_title(self) -> str:
        """What is being typed, for the question before quitting or logging out."""
        return f"correction of {self.view.code}"

    @property
    def has_unsaved(self) -> bool:
        """Whether something was typed and not saved."""
        return self.is_mounted and any(i.value.strip() for i in self.query(Input))

    def compose(self) -> ComposeResult:
        """Entry, field, value, reason."""
        entries = [f"{e.id} {e.kind}: {', '.join(e.values)}" for e in self.view.steps]
        entries += [f"{q.id} QC {q.name}: value" for q in self.view.qc]
        with Vertical(classes="dialog"):
            yield Plain(f"Correct a value of {self.view.code}", classes="title")
            yield Plain("\n".join(entries[-8:]) or "nothing recorded yet", classes="hint")
            yield Label("Entry (E… step, Q… QC result)")
            yield Input(id="c-entry")
            yield Label("Field (as listed above; 'at' for the time)")
            yield Input(id="c-field")
            yield Label("New value (with its unit)")
            yield Input(id="c-value")
            yield Label("Reason (mandatory)")
            yield Input(id="c-reason")
            yield Plain("Ctrl+S: save · Esc: cancel", id="c-status", classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter moves on; on the reason it saves."""
        if event.input.id == "c-reason":
            self.action_save()
        else:
            self.focus_next()

    def action_save(self) -> None:
        """Save, if the reason is given."""
        values = {i.id: i.value.strip() for i in self.query(Input)}
        if not values["c-reason"]:
            self.query_one("#c-status", Static).update("✗ the reason is mandatory")
            return
        self.correct(values)

    @work(thread=True, exclusive=True, exit_on_error=False, name="correct")
    def correct(self, values: dict[str, str]) -> int:
        """Record the correction (in a thread)."""
        from cellbatch.services.commands.corrections import correct

        return correct(
            self.cb_app.database(),
            self.cb_app.actor,
            self.view.code,
            values["c-entry"],
            field=values["c-field"],
            value=values["c-value"],
            reason=values["c-reason"],
            was=shown_value(self.view, values["c-entry"], values["c-field"]),
        )

    def done_correct(self, correction_id: int) -> None:
        """Say what was recorded and close."""
        self.notify(f"✓ Correction {correction_id} recorded with its reason")
        self.dismiss(True)

    def failed_correct(self, error: BaseException) -> None:
        """Say why; nothing was saved."""
        from cellbatch.tui.errors import describe_error

        self.query_one("#c-status", Static).update(f"✗ Not saved: {describe_error(error)}")

    def action_cancel(self) -> None:
        """Close without saving."""
        self.dismiss(False)
