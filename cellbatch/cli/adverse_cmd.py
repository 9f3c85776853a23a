"""Commands: adverse-event list|show|assess|close (a possible harm to a recipient, followed up).

The clinic and QA read and assess the reports; QA closes them with a signature.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cellbatch.cli.common import (
    JsonOption,
    PasswordStdin,
    UserOption,
    database,
    emit_json,
    login,
    read_secret,
    when,
)
from cellbatch.cli.values import DateTime
from cellbatch.domain.adverse_events import RELATEDNESS

ReportArg = Annotated[str, typer.Argument(metavar="REPORT-ID", help="The report: AE<n>.")]

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
        typer.echo(f"  assessment: {r.assessment_text()}")


@adverse_app.command("show")
def adverse_show(
    report: ReportArg,
    user: UserOption,
    json_out: JsonOption = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Show one report: what happened, its assessment, its closing."""
    from cellbatch.services.queries.adverse_events import adverse_event_report

    db = database(read_only=True)
    actor = login(db, user, password_stdin)
    view = adverse_event_report(db, actor, report)
    if json_out:
        emit_json(view.to_dict() | {"state": view.state})
        return
    for line in view.lines():
        typer.echo(line)


@adverse_app.command("assess")
def adverse_assess(
    report: ReportArg,
    user: UserOption,
    grade: Annotated[
        str | None,
        typer.Option(
            metavar="N",
            help="Severity grade: 1 mild, 2 moderate, 3 severe, 4 life-threatening, 5 death.",
        ),
    ] = None,
    relatedness: Annotated[
        str | None,
        typer.Option(metavar="TEXT", help=f"Relatedness to the product: {', '.join(RELATEDNESS)}."),
    ] = None,
    action: Annotated[
        str | None, typer.Option(help="The action taken (treatment, tests, follow-up).")
    ] = None,
    physician: Annotated[
        str | None, typer.Option(help="The name of the physician who was told.")
    ] = None,
    notified_at: Annotated[
        str | None, DateTime("--notified-at", help="When the physician was told.")
    ] = None,
    reason: Annotated[
        str | None, typer.Option(help="Why an assessment already written changes.")
    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Assess a report (clinic or QA): grade, relatedness, action taken, the physician told."""
    from cellbatch.services.commands.adverse_events import assess_report

    told = when(notified_at, "--notified-at")
    db = database()
    actor = login(db, user, password_stdin)
    ref = assess_report(
        db, actor, report, grade=grade, relatedness=relatedness, action=action,
        physician=physician, notified_at=told, reason=reason,
    )  # fmt: skip
    typer.echo(f"{ref} assessed by {user}")


@adverse_app.command("close")
def adverse_close(
    report: ReportArg,
    user: UserOption,
    reason: Annotated[
        str | None, typer.Option(help="The basis of the closure (the follow-up done).")
    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Close an assessed report (QA; a signature: asks your password)."""
    from cellbatch.services.commands.adverse_events import close_report

    password = read_secret(f"Password for {user} (electronic signature)", from_stdin=password_stdin)
    ref = close_report(database(), user, password, report, reason=reason or "")
    typer.echo(f"{ref} closed and signed by {user}")


def register(app: typer.Typer) -> None:
    """Add these commands to the root app."""
    app.add_typer(adverse_app, name="adverse-event")
