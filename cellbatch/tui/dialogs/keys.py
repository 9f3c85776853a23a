"""The keys of the screen in use: its own first, then the app's; Esc closes.

Textual's own key panel lists some twenty-five text-editing keys of the focused field before
the screen's keys and cannot be scrolled by keyboard. This one lists what a person needs: the
keys of the screen and of the app, each with what it does, scrollable with the arrows.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen

from cellbatch.tui.screens.base import AppModal
from cellbatch.tui.widgets.plain import Plain

MOVING = ("tab", "shift+tab")
"""Keys every screen has (they move between fields): listed with the app's."""


def key_name(key: str) -> str:
    """``ctrl+l`` → ``Ctrl+L``, ``f2`` → ``F2``, ``escape`` → ``Esc``."""
    names = {"escape": "Esc", "enter": "Enter", "tab": "Tab"}
    return "+".join(names.get(part, part.capitalize()) for part in key.split("+"))


def key_lines(screen: Screen) -> list[str]:
    """``F2  Record`` for each key of ``screen`` and of the app that works there now."""
    app = screen.app
    own: list[str] = []
    general: list[str] = []
    seen: set[str] = set()
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if active.node not in (screen, app) or not binding.description or not active.enabled:
            continue
        if key in seen:
            continue
        seen.add(key)
        shown = binding.key_display or key_name(key)
        mine = active.node is screen and key not in MOVING  # Tab moves on every screen
        (own if mine else general).append(f"{shown:<10} {binding.description}")
    lines = [*own]
    if general:
        lines += ["", "Everywhere:", *general]
    return lines


class KeysDialog(AppModal):
    """What each key does on the screen behind; arrows scroll, Esc closes."""

    BINDINGS = [Binding("escape", "close", "Close"), Binding("f1", "close", "Close")]

    def __init__(self, screen: Screen) -> None:
        super().__init__()
        self.lines = key_lines(screen)
        """The keys, one per line."""
        self.screen_name = type(screen).__name__.removesuffix("Screen")
        """Which screen they belong to."""

    def compose(self) -> ComposeResult:
        """Title and the scrollable list."""
        with Vertical(classes="dialog"):
            yield Plain(f"Keys of this screen ({self.screen_name})", classes="title")
            with VerticalScroll(id="keys-list"):
                yield Plain("\n".join(self.lines) or "no keys of its own", id="keys-text")
            yield Plain(
                "Ctrl+P: every command, searchable · ↑↓: scroll · Esc: close", classes="hint"
            )

    def on_mount(self) -> None:
        """The list takes the arrows."""
        self.query_one("#keys-list").focus()

    def action_close(self) -> None:
        """Back to the screen."""
        self.dismiss(None)
