"""Pick one of a few options (e.g. seed the next passage or freeze the bank)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from cellbatch.tui.screens.base import AppModal
from cellbatch.tui.widgets.plain import Plain


class ChoiceDialog(AppModal):
    """A list of options; Enter picks one, Escape picks none."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, options: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        """The question."""
        self.options = options
        """(value, label) pairs."""

    def compose(self) -> ComposeResult:
        """Question and options."""
        with Vertical(classes="dialog"):
            yield Plain(self.title_text, classes="title")
            yield OptionList(*[Option(label, id=value) for value, label in self.options])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Answer with the chosen value."""
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        """No choice."""
        self.dismiss(None)
