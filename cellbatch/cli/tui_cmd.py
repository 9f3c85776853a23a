"""Command: tui (the cleanroom terminal UI; also what ``cellbatch`` alone opens)."""

from __future__ import annotations

import typer

from cellbatch.cli.common import STATE
from cellbatch.cli.entry import run_ui


def run_tui() -> None:
    """Open the terminal UI on the configured database (textual is imported only here)."""
    run_ui(STATE.db_url)


def tui() -> None:
    """Open the terminal UI: log in, see your work, record steps, review and release."""
    run_tui()


def register(app: typer.Typer) -> None:
    """Add this command to the root app."""
    app.command("tui")(tui)
