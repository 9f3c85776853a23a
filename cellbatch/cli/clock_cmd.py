"""Command: clock (which clock records take their time from, and whether the clocks agree)."""

from __future__ import annotations

import typer

from cellbatch.cli.common import database


def clock() -> None:
    """Compare this computer's clock with the database server's and NTP's; exit 1 if too far."""
    from cellbatch.services.trusted_time import clock_report

    db = database(read_only=True)
    try:
        report = clock_report(db)
    finally:
        db.dispose()
    if report.ok:
        assert report.source is not None
        typer.echo(f"time source: {report.source.note()}")
        typer.echo(f"clocks agree within {report.limit:g} s: writes are recorded")
        return
    typer.echo(f"RECORDING REFUSED: {report.problem}", err=True)
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this command to the root app."""
    app.command("clock")(clock)
