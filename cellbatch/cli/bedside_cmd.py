"""Commands: bedside check and infusion record (GMP-30: the right bag to the right patient)."""

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
from cellbatch.cli.values import DateTime, Quantity, Words
from cellbatch.domain.bedside import FATES

bedside_app = typer.Typer(
    help="At the bedside: two people check the wristband against the bag (MATCH / NO MATCH).",
    no_args_is_help=True,
)
infusion_app = typer.Typer(
    help="The infusion record: start, stop, volume, reactions, the bag's fate.",
    no_args_is_help=True,
)


@bedside_app.command("check")
def bedside_check_command(
    wristband: Annotated[
        str,
        typer.Option(metavar="SCAN", help="The wristband: HOSPITAL-NUMBER^RECIPIENT-ID or GS1."),
    ],
    scan: Annotated[
        list[str],
        typer.Option(
            "--scan",
            metavar="SCAN",
            help="A bag label barcode: its Data Matrix (DIN, product code and, on labels "
            "that carry it, the chain-of-identity identifier, then required), or its DIN and "
            "product code bar codes; &/CH… from the accompanying document (repeat).",
        ),
    ],
    second: Annotated[
        str, typer.Option(metavar="USER-ID", help="The second person (asked for a password).")
    ],
    user: UserOption,
    json_out: JsonOption = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Check the bag against the patient; exit 1 on NO MATCH. Every attempt is recorded.

    With --password-stdin, standard input holds your password, then the second person's.
    """
    from cellbatch.services.commands.bedside import bedside_check

    db = database()
    actor = login(db, user, password_stdin)
    password = read_secret(f"Password for {second} (second person)", from_stdin=password_stdin)
    result = bedside_check(db, actor, second, password, wristband, scan)
    if json_out:
        emit_json(
            {
                "check": result.ref,
                "match": result.match,
                "reasons": result.reasons,
                "recipient": result.recipient,
                "batch": result.batch,
                "bag": result.bag,
                "infusion": result.infusion,
            }
        )
    else:
        typer.echo(result.text())
    if not result.match:
        raise typer.Exit(1)


@infusion_app.command("record")
def infusion_record_command(
    check: Annotated[str, typer.Option(metavar="CHECK-ID", help="The bedside check: BC<n>.")],
    fate: Annotated[str, Words(*FATES, name="--fate", help="What became of the bag.")],
    user: UserOption,
    start: Annotated[str | None, DateTime("--start", help="Infusion started.")] = None,
    stop: Annotated[str | None, DateTime("--stop", help="Infusion stopped.")] = None,
    volume: Annotated[str | None, Quantity("volume", help="Volume given.")] = None,
    reaction: Annotated[str, typer.Option(help="'none' or the reaction's type.")] = "none",
    grade: Annotated[int | None, typer.Option(help="The reaction's grade (1 to 5).")] = None,
    reason: Annotated[str | None, typer.Option(help="Why not (fully) infused.")] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Record the infusion of the bag of a bedside check (given only after a MATCH)."""
    from cellbatch.services.commands.bedside import record_infusion

    started, stopped = when(start, "--start"), when(stop, "--stop")
    db = database()
    actor = login(db, user, password_stdin)
    ref = record_infusion(
        db, actor, check, fate=fate, started=started, stopped=stopped, volume=volume,
        reaction=reaction, grade=grade, reason=reason,
    )  # fmt: skip
    typer.echo(f"infusion record {ref}: {fate}")


def register(app: typer.Typer) -> None:
    """Add these commands to the root app."""
    app.add_typer(bedside_app, name="bedside")
    app.add_typer(infusion_app, name="infusion")
