"""Commands: audit verify, audit show."""

from __future__ import annotations

from typing import Annotated

import typer

from cellbatch.cli.common import (
    JsonOption,
    PasswordStdin,
    UserOption,
    database,
    emit_json,
    not_recorded,
    reader,
    table,
)

audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit chain and every audited record; exit 1 naming the first break.

    No log-in: it shows no record's content, only whether the trail holds and where it
    breaks, and it runs unattended (a nightly job of the service account that holds the
    database and the site key); reading the database at all needs that account's access.
    """
    from cellbatch.services.database import DatabaseDamaged
    from cellbatch.services.queries.audit import verify_trail

    try:
        report = verify_trail(database(read_only=True))
    except DatabaseDamaged as exc:  # so damaged that it does not even open
        typer.echo(f"AUDIT TRAIL BROKEN: {exc}", err=True)
        raise typer.Exit(1) from None
    if report.ok:
        typer.echo(
            f"audit trail intact: {report.entries_checked} entries, "
            f"{report.rows_checked} records checked"
        )
        return
    typer.echo(f"AUDIT TRAIL BROKEN: {report.problems[0]}", err=True)
    for problem in report.problems[1:]:
        typer.echo(f"  also: {problem}", err=True)
    raise typer.Exit(1)


@audit_app.command("show")
def audit_show(
    user: UserOption,
    json_out: JsonOption = False,
    batch: Annotated[str | None, typer.Option("--batch", help="Only this batch.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many.")] = None,
    offset: Annotated[int, typer.Option("--offset", help="Skip this many.")] = 0,
    password_stdin: PasswordStdin = False,
) -> None:
    """List audit entries: who, when (UTC), what, old and new value, why (recorded)."""
    from cellbatch.services.commands.disclosures import show_audit_trail

    db, actor = reader(user, password_stdin)
    entries, recorded = show_audit_trail(db, actor, batch_code=batch, offset=offset, limit=limit)
    not_recorded(recorded)
    if json_out:
        emit_json([e.to_dict() for e in entries])
        return

    def short(text: str | None, width: int = 60) -> str:
        text = text or ""
        return text if len(text) <= width else text[: width - 1] + "…"

    table(
        [
            [
                str(e.seq),
                e.at,
                e.username,
                e.action,
                f"{e.entity} {e.entity_id}",
                e.field or "",
                short(e.old_value, 30),
                short(e.new_value),
                short(e.reason, 40),
            ]
            for e in entries
        ],
        ["#", "at (UTC)", "user", "action", "record", "field", "old", "new", "reason"],
    )


def register(app: typer.Typer) -> None:
    """Add these commands to the root app."""
    app.add_typer(audit_app, name="audit")
