"""Command: demo (fill an empty database with the two clinical cases)."""

from __future__ import annotations

from typing import Annotated

import typer

from cellbatch.cli.common import STATE


def demo(
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Do nothing (and succeed) on a non-empty database.")
    ] = False,
) -> None:
    """Fill an empty database with demo users, SOP-driven batches and QC (made if missing)."""
    from cellbatch.documents.labels import render as render_labels
    from cellbatch.services.database import init_database
    from cellbatch.services.demo import is_empty, load_demo

    db, _done = init_database(STATE.db_url)
    if if_empty and not is_empty(db):
        return
    accounts = load_demo(db, render_labels=render_labels)
    typer.echo(f"demo data loaded into {db.display_url}")
    typer.echo(
        "batches: EASC-B001 (released bank) → EASC-D001 (RA-P001's dose, filled) and "
        "EASC-D000 (RA-P002's day 1, given six days ago); "
        "BMMSC-B001 (released bank) → FUC-D001 (fucosylated EB dose, OOS HECA-452)"
    )
    typer.echo("demo users (password = demo- + user ID + -pass):")
    for username, role, password in accounts:
        typer.echo(f"  {username:<6} {role:<11} {password}")


def register(app: typer.Typer) -> None:
    """Add this command to the root app."""
    app.command("demo")(demo)
