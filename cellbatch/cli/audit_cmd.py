"""Commands: audit verify, audit anchor, audit show."""

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
from cellbatch.domain.errors import CellbatchError

audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify(
    incremental: Annotated[
        bool,
        typer.Option(
            "--incremental",
            help="Only the entries since the last verified anchor, and every anchor.",
        ),
    ] = False,
) -> None:
    """Prove the audit trail under the site key; exit 1 naming the first break.

    The full check proves every entry's seal and link, every anchor in the anchor log and
    every audited record; --incremental proves the entries since the last anchor a verify
    proved, and every anchor. A proved trail is anchored (``verified``) for the next one.

    No log-in: it shows no record's content, only whether the trail holds and where it
    breaks, and it runs unattended (a nightly job of the service account that holds the
    database and the site key); reading the database at all needs that account's access.
    """
    from cellbatch.services.audit_anchor import verified_anchor, write_anchor
    from cellbatch.services.database import DatabaseDamaged
    from cellbatch.services.queries.audit import verify_trail

    try:
        db = database(read_only=True)
        report = verify_trail(db, incremental=incremental)
    except DatabaseDamaged as exc:  # so damaged that it does not even open
        typer.echo(f"AUDIT TRAIL BROKEN: {exc}", err=True)
        raise typer.Exit(1) from None
    speed = (
        f"{report.entries_checked} entries in {report.seconds:.2f} s "
        f"({report.entries_per_second:,.0f} entries/s)"
    )
    if report.ok:
        what = (
            f"since anchored entry #{report.start_seq}, {report.anchors_checked} anchors"
            if report.incremental and report.start_seq
            else f"{report.rows_checked} records, {report.anchors_checked} anchors"
        )
        typer.echo(f"audit trail intact: {speed}; {what} checked")
        for note in report.notes:
            typer.echo(f"note: {note}")
        if report.head_seq and report.head_seq != report.start_seq:
            anchor = verified_anchor(db, report.chain_id, report.head_seq, report.head_hash)
            try:
                write_anchor(db, "verified", anchor)
                typer.echo(f"anchored {anchor.shown} in {db.anchor_log}")
            except CellbatchError as exc:
                typer.echo(f"warning: the proved head was not anchored: {exc}", err=True)
        return
    typer.echo(f"AUDIT TRAIL BROKEN: {report.problems[0]}", err=True)
    for problem in report.problems[1:]:
        typer.echo(f"  also: {problem}", err=True)
    typer.echo(f"({speed})", err=True)
    raise typer.Exit(1)


@audit_app.command("anchor")
def audit_anchor() -> None:
    """Write the audit trail's head (number, hash, UTC time) to the anchor log.

    The anchor log lies outside the database (beside the site key, CELLBATCH_ANCHOR_LOG):
    once anchored, no entry up to the head can be removed without `audit verify` naming
    the anchor. Copy the log off the host regularly (docs/trust-model.md).
    """
    from cellbatch.services.audit_anchor import write_anchor

    db = database(read_only=True)
    anchor = write_anchor(db, "anchor")
    typer.echo(f"anchored {anchor.shown} in {db.anchor_log}")


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
