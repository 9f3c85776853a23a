"""The header line: who is logged in, the role, the database and the time."""

from __future__ import annotations

from textual.widgets import Static


class SessionBar(Static):
    """One line at the top of every screen, refreshed every second."""

    def on_mount(self) -> None:
        """Show the session now and keep the clock current."""
        self.refresh_line()
        self.set_interval(1.0, self.refresh_line)

    def refresh_line(self) -> None:
        """Redraw from the app's session."""
        self.update(self.app.session_line(self.size.width or 80))  # type: ignore[attr-defined]

    def on_resize(self) -> None:
        """Shorten or lengthen the line to the new width."""
        self.refresh_line()
