"""A small form checked as typed, which stays open with every value when the service refuses.

Each field is checked as it is typed by the domain's own rules (a unit, a code, a date), and
the verdict is shown under it. With a ``save`` function the dialog calls the service itself
(in a worker): on a refusal it stays open with everything typed, names the form's field, and
puts the cursor in that field with its text selected, so a rescan or a retype replaces it.
Without ``save`` it answers with the values (a password change, a reason).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.suggester import SuggestFromList
from textual.widgets import Input, Label, Select, Static

from cellbatch.tui.forms import Check
from cellbatch.tui.screens.base import AppModal
from cellbatch.tui.widgets.plain import Plain

DISCARD_CONFIRM_SECONDS = 5.0
"""A second Esc within this time closes a dialog with values typed."""


@dataclass(frozen=True)
class DialogField:
    """One field of a dialog: what it is called, how it is checked as typed."""

    name: str
    """Key of the value handed to ``save``."""
    label: str
    """What the form calls it (short: it sits left of the field)."""
    help: str = ""
    """Shown under the empty field: the form expected, an example."""
    check: Callable[[str], Check] | None = None
    """The domain's check of the typed text (None: any text)."""
    names: tuple[str, ...] = ()
    """The services' names for this value (``--weight``, ``CODE``), to place their refusals."""
    required: bool = True
    choices: tuple[tuple[str, str], ...] = ()
    """(shown, value) pairs: a pick list instead of typing."""
    suggestions: tuple[str, ...] = ()
    """Values completed as typed (Right arrow accepts); scanning still works."""
    secret: bool = False
    value: str = ""
    """Filled in when the dialog opens (the one approved SOP)."""

    @classmethod
    def plain(cls, name: str, label: str, *, secret: bool = False) -> DialogField:
        """A required text field with no check of its own."""
        return cls(name, label, secret=secret)


class FormDialog(AppModal):
    """Labelled fields, checked as typed; answers with the service's result or the values."""

    BINDINGS = [
        Binding("ctrl+s", "submit", "OK", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(
        self,
        title: str,
        fields: Sequence[DialogField | tuple[str, str]],
        *,
        secret: bool = False,
        save: Callable[[dict[str, Any]], Any] | None = None,
        note: str = "",
    ) -> None:
        super().__init__()
        self.title_text = title
        """What the form is for."""
        self.fields = [
            f if isinstance(f, DialogField) else DialogField.plain(*f, secret=secret)
            for f in fields
        ]
        """The fields, in order."""
        self.save = save
        """The service call (run in a worker), or None to answer with the values."""
        self.note = note
        """A line under the title (what happens on OK)."""
        self.checks: dict[str, Check] = {}
        """The latest verdict of each field."""
        self.saved = False
        """Whether the service accepted the values."""
        self._cancel_asked_at = -DISCARD_CONFIRM_SECONDS

    @property
    def entry_title(self) -> str:
        """What is being typed, for the question before quitting or logging out."""
        return self.title_text

    @property
    def has_unsaved(self) -> bool:
        """Whether something was typed and not saved (secret fields do not count)."""
        if self.saved:
            return False
        return any(i.value.strip() for i in self.query(Input) if not i.password and i.is_mounted)

    def compose(self) -> ComposeResult:
        """Title, then one row per field with its verdict under it."""
        with Vertical(classes="dialog form-dialog"):
            yield Plain(self.title_text, classes="title")
            if self.note:
                yield Plain(self.note, classes="hint")
            for f in self.fields:
                with Horizontal(classes="dialog-row"):
                    yield Label(f.label, classes="dialog-label")
                    if f.choices:
                        yield Select(list(f.choices), id=f"form-{f.name}", classes="dialog-input")
                    else:
                        yield Input(
                            f.value,
                            id=f"form-{f.name}",
                            password=f.secret,
                            classes="dialog-input",
                            suggester=SuggestFromList(f.suggestions, case_sensitive=False)
                            if f.suggestions
                            else None,
                        )
                yield Plain(f.help, id=f"form-hint-{f.name}", classes="dialog-hint")
            yield Plain(
                "Enter: next field, on the last one OK · Ctrl+S: OK · Esc: cancel",
                id="dialog-status",
                classes="hint",
            )

    def on_mount(self) -> None:
        """The first field has the cursor."""
        super().on_mount()
        self.query_one(f"#form-{self.fields[0].name}").focus()

    # ------------------------------------------------------------------ checking
    def _text(self, f: DialogField) -> str:
        widget = self.query_one(f"#form-{f.name}")
        if isinstance(widget, Select):
            return "" if widget.is_blank() else str(widget.value)
        return widget.value  # type: ignore[attr-defined]

    def _check(self, f: DialogField) -> Check:
        """Check one field and show the verdict under it."""
        text = self._text(f).strip()
        hint = self.query_one(f"#form-hint-{f.name}", Static)
        if not text:
            check = Check("error" if f.required else "empty", "required" if f.required else "")
            hint.update(f.help)
            hint.set_classes("dialog-hint")
        else:
            check = f.check(text) if f.check is not None else Check("ok", "", text)
            hint.update(check.message or f.help)
            hint.set_classes(f"dialog-hint field-status-{check.state}")
        self.checks[f.name] = check
        return check

    def on_input_changed(self, event: Input.Changed) -> None:
        """Check the field as typed."""
        self._check_named(event.input.id)

    def on_select_changed(self, event: Select.Changed) -> None:
        """Check the choice."""
        self._check_named(event.select.id)

    def _check_named(self, widget_id: str | None) -> None:
        name = (widget_id or "").removeprefix("form-")
        for f in self.fields:
            if f.name == name:
                self._check(f)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter moves on (a wrong value keeps the cursor, selected); on the last field, OK."""
        name = (event.input.id or "").removeprefix("form-")
        check = self.checks.get(name)
        if check is not None and check.state == "error" and event.value.strip():
            event.input.select_all()
            return
        if name == self.fields[-1].name:
            self.action_submit()
        else:
            self.focus_next()

    # ------------------------------------------------------------------ answering
    def action_submit(self) -> None:
        """Check every field; answer (or call the service) only when all are right."""
        wrong = [f for f in self.fields if self._check(f).state == "error"]
        if wrong:
            missing = [f.label for f in wrong if not self._text(f).strip()]
            bad = [f.label for f in wrong if self._text(f).strip()]
            parts = ([f"missing: {', '.join(missing)}"] if missing else []) + (
                [f"to correct: {', '.join(bad)}"] if bad else []
            )
            self._status(f"✗ {'; '.join(parts)}")
            self._point_at(wrong[0].name)
            return
        values = {
            f.name: (
                self.checks[f.name].value
                if self.checks[f.name].value is not None
                else self._text(f).strip()
            )
            for f in self.fields
        }
        if self.save is None:
            self.saved = True
            self.dismiss(values)
            return
        self._status("Saving…")
        self.call_service(values)

    @work(thread=True, exclusive=True, exit_on_error=False, name="form-save")
    def call_service(self, values: dict[str, Any]) -> Any:
        """Hand the values to the service (in a thread)."""
        assert self.save is not None
        return self.save(values)

    def done_form_save(self, result: Any) -> None:
        """Accepted: close with the service's answer."""
        self.saved = True
        self.dismiss(result)

    def failed_form_save(self, error: BaseException) -> None:
        """Refused: stay open with every value, name the form's field, put the cursor there."""
        from cellbatch.domain.errors import InvalidInput
        from cellbatch.tui.errors import describe_error
        from cellbatch.tui.field_names import field_for, in_form_words, option_names

        every = [(n, f) for f in self.fields for n in (*option_names(f.name), *f.names)]
        names = {n: f.name for n, f in every}
        labels = {n: f.label for n, f in every}
        target = field_for(error, names)
        if target is not None and isinstance(error, InvalidInput):
            label = next(f.label for f in self.fields if f.name == target)
            message = f"{label}: {in_form_words(error.message, labels)}"
        else:
            message = describe_error(error, labels)
        self._status(f"✗ Not saved: {message}")
        if target is not None:
            hint = self.query_one(f"#form-hint-{target}", Static)
            hint.update(f"✗ {message.split(': ', 1)[-1]}")
            hint.set_classes("dialog-hint field-status-error")
            self._point_at(target)

    def _point_at(self, name: str) -> None:
        widget = self.query_one(f"#form-{name}")
        widget.focus()
        if isinstance(widget, Input):
            widget.select_all()

    def _status(self, text: str) -> None:
        self.query_one("#dialog-status", Static).update(text)

    def action_cancel(self) -> None:
        """Close without answering; with values typed, only on a second Esc."""
        if self.has_unsaved:
            now = time.monotonic()
            if now - self._cancel_asked_at > DISCARD_CONFIRM_SECONDS:
                self._cancel_asked_at = now
                self._status("Not saved: Esc again closes and discards what was typed")
                return
        self.dismiss(None)
