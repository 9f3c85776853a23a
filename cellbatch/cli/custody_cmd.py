"""Commands: custody issue/handover/show (a released bag's way from the cleanroom to the ward)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cellbatch.cli.common import (
    JsonOption,
    PasswordStdin,
    UserOption,
    database,
    login,
    read_secret,
    shown,
)
from cellbatch.cli.values import Quantity

custody_app = typer.Typer(
    help="Issue and chain of custody: each hand-over is a label scan and both people's log-in.",
    no_args_is_help=True,
)

ScanOption = Annotated[
    list[str], typer.Option("--scan", metavar="SCAN", help="A bag label barcode (repeat).")
]
ToOption = Annotated[
    str, typer.Option("--to", metavar="USER-ID", help="Who takes the bag (asked for a password).")
]


@custody_app.command("issue")
def custody_issue(
    scan: ScanOption,
    to: ToOption,
    container: Annotated[str, typer.Option(help="The transport container.")],
    user: UserOption,
    temperature: Annotated[
        str | None,
        Quantity(
            "temperature",
            help="Temperature reading at issue (refused outside the bag's storage range).",
        ),
    ] = None,
    logger: Annotated[
        str | None,
        typer.Option(metavar="LOGGER-ID", help="The temperature logger packed with the bag."),
    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Issue a released, in-date bag not on hold. --password-stdin: yours, then theirs."""
    from cellbatch.services.commands.custody import issue_bag

    db = database()
    actor = login(db, user, password_stdin)
    password = read_secret(f"Password for {to} (who takes the bag)", from_stdin=password_stdin)
    ref = issue_bag(db, actor, to, password, scan, container=container, temperature=temperature,
                    logger=logger)  # fmt: skip
    typer.echo(f"bag issued to {to} ({ref})")


@custody_app.command("receive")
def custody_receive(
    scan: ScanOption,
    condition: Annotated[
        str, typer.Option(metavar="TEXT", help="The transport container's condition on arrival.")
    ],
    user: UserOption,
    logger_file: Annotated[
        Path | None,
        typer.Option(
            "--logger-file",
            metavar="FILE",
            help="The logger's readings (CSV: time,temperature [degC]), if one travelled.",
        ),
    ] = None,
    temperature: Annotated[
        str | None, Quantity("temperature", help="The reading on arrival (no logger).")
    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """The ward receives an issued bag (once); an excursion in transit puts it on hold."""
    from cellbatch.services.commands.custody import receive_bag

    db = database()
    actor = login(db, user, password_stdin)
    receipt = receive_bag(db, actor, scan, condition=condition, logger_file=logger_file,
                          temperature=temperature)  # fmt: skip
    typer.echo(receipt.text())


@custody_app.command("handover")
def custody_handover(
    scan: ScanOption, to: ToOption, user: UserOption, password_stdin: PasswordStdin = False
) -> None:
    """Hand the bag you hold to the next person. --password-stdin: yours, then theirs."""
    from cellbatch.services.commands.custody import hand_over

    db = database()
    actor = login(db, user, password_stdin)
    password = read_secret(f"Password for {to} (who takes the bag)", from_stdin=password_stdin)
    ref = hand_over(db, actor, to, password, scan)
    typer.echo(f"bag handed over to {to} ({ref})")


@custody_app.command("show")
def custody_show(
    batch: Annotated[str, typer.Argument(help="Dose batch code.")],
    user: UserOption,
    bag: Annotated[int, typer.Option(help="Bag number.")] = 1,
    json_out: JsonOption = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """A bag's chain of custody, step by step."""
    from dataclasses import asdict

    from cellbatch.services.commands.custody import custody_chain

    steps = shown(
        user, password_stdin, json_out, lambda db: custody_chain(db, batch, bag),
        lambda rows: [asdict(r) for r in rows],
    )  # fmt: skip
    if steps is None:
        return
    if not steps:
        typer.echo("not issued")
    for s in steps:
        typer.echo(s.text())


@custody_app.command("document")
def custody_document(
    batch: Annotated[str, typer.Argument(help="Dose batch code.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", metavar="FILE", help="PDF to write (a new file).")
    ],
    user: UserOption,
    bag: Annotated[int, typer.Option(help="Bag number.")] = 1,
    force: Annotated[bool, typer.Option("--force", help="Replace the file if it exists.")] = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Print the accompanying document of an issued bag (PDF); the print is recorded."""
    from cellbatch.documents.accompanying import render
    from cellbatch.services.commands.disclosures import write_document
    from cellbatch.services.output_files import OutputFile
    from cellbatch.services.queries.accompanying import accompanying_document

    db = database(read_only=True)
    out = OutputFile(output, force=force, protected=db.files())
    actor = login(db, user, password_stdin)
    doc = accompanying_document(db, batch, bag)
    written = write_document(
        db, actor, out, render(doc), action="print", batch_code=batch,
        document="accompanying document (PDF)",
    )  # fmt: skip
    typer.echo(f"accompanying document of {doc.batch} bag {doc.bag} written to {written.path}")


def register(app: typer.Typer) -> None:
    """Add these commands to the root app."""
    app.add_typer(custody_app, name="custody")
