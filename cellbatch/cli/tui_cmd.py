"""Command: tui (the cleanroom terminal UI; also what ``cellbatch`` alone opens)."""

from __future__ import annotations

import typer

from cellbatch.cli.common import STATE


def run_tui() -> None:
    """Open the terminal UI on the configured database (textual is imported only here)."""
    from cellbatch.tui.app import build_app

    build_app(STATE.db_url).run()


def tui() -> None:
    """Open the terminal UI: log in, see your work, record steps, review and release."""
    run_tui()


def register(app: typer.Typer) -> None:
    """Add this command to the root app."""
    app.command("tui")(tui)
