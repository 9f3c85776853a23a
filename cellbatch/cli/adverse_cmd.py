"""Commands: adverse-event list (reports of a possible harm to a recipient, for clinic and QA)."""

from __future__ import annotations

from typing import Annotated

import typer

from cellbatch.cli.common import JsonOption, PasswordStdin, UserOption, database, emit_json, login

adverse_app = typer.Typer(
    help="Adverse-event reports: a recipient may have been harmed (a failing late result).",
    no_args_is_help=True,
)


@adverse_app.command("list")
def adverse_list(
    user: UserOption,
    open_only: Annotated[bool, typer.Option("--open", help="Only the open reports.")] = False,
    json_out: JsonOption = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """List adverse-event reports, newest first: recipient, batch, result, what happened."""
    from cellbatch.services.queries.adverse_events import adverse_event_reports

    db = database(read_only=True)
    actor = login(db, user, password_stdin)
    reports = adverse_event_reports(db, actor, open_only=open_only)
    if json_out:
        emit_json([r.to_dict() for r in reports])
        return
    if not reports:
        typer.echo("no adverse-event report")
        return
    for r in reports:
        typer.echo(r.text())
        typer.echo(f"  opened {r.opened_at} by {r.opened_by.shown()}")


def register(app: typer.Typer) -> None:
    """Add these commands to the root app."""
    app.add_typer(adverse_app, name="adverse-event")
