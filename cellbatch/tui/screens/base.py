"""What every screen shares: the header, the footer, and worker results routed by name."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult, SystemCommand
from textual.await_complete import AwaitComplete
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Input
from textual.worker import Worker, WorkerState

from cellbatch.tui.widgets.session_bar import SessionBar

if TYPE_CHECKING:
    from cellbatch.tui.app import CellbatchApp


class WorkerResults:
    """Route a finished worker to ``done_<name>(result)`` or ``failed_<name>(error)``.

    A failure with no handler of its own is shown by the app as a message.
    """

    async def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Dispatch the worker's outcome by its name."""
        worker = event.worker
        key = worker.name.replace("-", "_")
        if event.state == WorkerState.SUCCESS:
            handler = getattr(self, f"done_{key}", None)
            if handler is not None:
                outcome = handler(worker.result)
                if inspect.isawaitable(outcome):
                    await outcome
        elif event.state == WorkerState.ERROR and worker.error is not None:
            handler = getattr(self, f"failed_{key}", None)
            if handler is not None:
                outcome = handler(worker.error)
                if inspect.isawaitable(outcome):
                    await outcome
            else:
                self.app.show_error(worker.error)  # type: ignore[attr-defined]


class AppScreen(WorkerResults, Screen):
    """A full screen with the session header on top and the key bindings at the bottom."""

    @property
    def cb_app(self) -> CellbatchApp:
        """The application, typed."""
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        """Header, the screen's own body, footer."""
        yield SessionBar(id="session", markup=False)
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        """The screen's content (override)."""
        return iter(())

    def on_mount(self) -> None:
        """Freeze cursor blinking where the app asks for it (snapshot tests)."""
        if not self.cb_app.blink:
            for field in self.query(Input):
                field.cursor_blink = False

    def palette_commands(self) -> Iterable[SystemCommand]:
        """Actions of this screen for the command palette (override)."""
        return iter(())


class AppModal(WorkerResults, ModalScreen):
    """A dialog over the current screen."""

    @property
    def cb_app(self) -> CellbatchApp:
        """The application, typed."""
        return self.app  # type: ignore[return-value]

    _close_later: tuple[Any] | None = None
    """The result of a close asked for while another screen (the lock) was on top."""

    def on_mount(self) -> None:
        """Freeze cursor blinking where the app asks for it (snapshot tests)."""
        if not self.cb_app.blink:
            for field in self.query(Input):
                field.cursor_blink = False

    def dismiss(self, result: Any = None) -> AwaitComplete:
        """Close with ``result``; under the lock, only once the dialog is on top again.

        Textual's dismiss hands the result on and pops the *top* screen. A dialog closes itself
        when its service call returns, and by then the lock may cover it: its result (which may
        open a batch) would act over the lock. So the close waits for the unlock.
        """
        if self.is_attached and self.app.screen is not self:
            self._close_later = (result,)
            return AwaitComplete.nothing()
        return super().dismiss(result)

    def on_screen_resume(self) -> None:
        """On top again (the lock lifted): finish a close asked for meanwhile."""
        if self._close_later is not None:
            (result,) = self._close_later
            self._close_later = None
            self.dismiss(result)
