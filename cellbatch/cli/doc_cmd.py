"""Commands for what leaves the system: bag labels, label scans, the batch record, the export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cellbatch.cli.common import (
    PasswordStdin,
    UserOption,
    database,
    emit_json,
    login,
    not_recorded,
)

label_app = typer.Typer(
    help="Bag labels: verify a printed label by scanning it.", no_args_is_help=True
)

OutputOption = Annotated[
    Path,
    typer.Option(
        "--output", "-o", metavar="FILE", help="File to write (a new file, unless --force)."
    ),
]
ForceOption = Annotated[bool, typer.Option("--force", help="Replace the output file if it exists.")]


def _output(db, path: Path, force: bool):
    """The output file, checked now: before any password is asked or page is drawn."""
    from cellbatch.services.output_files import OutputFile

    return OutputFile(path, force=force, protected=db.files())


def labels(
    batch: Annotated[str, typer.Argument(help="Dose batch code.")],
    output: OutputOption,
    user: UserOption,
    reprint: Annotated[
        bool, typer.Option("--reprint", help="Print again; the label is marked as a reprint.")
    ] = False,
    reason: Annotated[
        str | None, typer.Option("--reason", metavar="TEXT", help="Why the reprint is needed.")
    ] = None,
    force: ForceOption = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Print the ISBT 128 bag labels of a dose batch to a PDF (counted and audited).

    The PDF is on disk under its name before the print is counted: a crash between the two
    leaves a label file that was not counted, never a counted label without its file.
    """
    from cellbatch.documents.labels import render
    from cellbatch.services.commands.labels import print_labels

    db = database()
    out = _output(db, output, force)
    actor = login(db, user, password_stdin)

    def draw(bag_labels) -> None:
        out.write(render(bag_labels))
        out.publish()

    with out:
        printed = print_labels(db, actor, batch, draw, reprint=reprint, reason=reason)
    kind = "final" if printed[0].final else "QUARANTINE (not released)"
    what = "reprinted" if reprint else "printed"
    typer.echo(f"{len(printed)} {kind} label(s) of {batch} {what} to {output}")
    for label in printed:
        typer.echo(
            f"  bag {label.bag_number}: DIN {label.din_eye_readable} [{label.check_character}] "
            f"flags {label.flags}, product {label.product_code}, expiry {label.expiry_local} "
            f"{label.expiry_zone} ({label.expiry_utc} UTC)"
        )
        codes = label.barcodes()
        typer.echo(
            f"    barcodes: DIN {codes['din']}  product {codes['product_code']}  "
            f"expiry {codes['expiry']}"
        )


@label_app.command("scan")
def label_scan(
    batch: Annotated[str, typer.Argument(help="Dose batch code.")],
    bag: Annotated[int, typer.Option("--bag", metavar="N", help="Bag number.")],
    scan: Annotated[
        list[str],
        typer.Option("--scan", metavar="TEXT", help="What the scanner read (repeat per barcode)."),
    ],
    user: UserOption,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Check scanned barcodes against the bag and record the verification (passed or failed)."""
    from cellbatch.domain.errors import RuleViolation
    from cellbatch.services.commands.labels import verify_scans

    db = database()
    actor = login(db, user, password_stdin)
    report = verify_scans(db, actor, batch, bag, list(scan))
    if json_out:
        emit_json(report.to_dict())
    else:
        for number, check in enumerate(report.checks, start=1):
            verdict = "matches" if check.ok else "; ".join(check.differences)
            typer.echo(f"  scan {number} ({check.kind or 'unreadable'}): {verdict}")
    if not report.ok:
        raise RuleViolation(report.summary())
    if not json_out:
        typer.echo(report.summary())


def record(
    batch: Annotated[str, typer.Argument(help="Batch code (bank or dose).")],
    output: OutputOption,
    user: UserOption,
    force: ForceOption = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Write the complete, human-readable batch record (PDF); the print is recorded."""
    from cellbatch.documents.batch_record import render
    from cellbatch.services.commands.disclosures import write_document
    from cellbatch.services.queries.documents import record_data

    db = database(read_only=True)
    out = _output(db, output, force)
    actor = login(db, user, password_stdin)
    data = record_data(db, batch)
    written = write_document(
        db, actor, out, render(data), action="print", batch_code=batch,
        document="batch record (PDF)",
    )  # fmt: skip
    typer.echo(
        f"batch record of {batch} written to {output} "
        f"({len(data['batch']['steps'])} steps, {len(data['audit_trail'])} audit entries; "
        f"SHA-256 {written.sha256[:16]}…)"
    )
    not_recorded(written.recorded)


def export(
    batch: Annotated[str, typer.Argument(help="Batch code (bank or dose).")],
    output: OutputOption,
    user: UserOption,
    force: ForceOption = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Write the complete electronic copy of the batch record (JSON); the export is recorded."""
    from cellbatch.services.commands.disclosures import write_document
    from cellbatch.services.queries.documents import export_json

    db = database(read_only=True)
    out = _output(db, output, force)
    actor = login(db, user, password_stdin)
    written = write_document(
        db, actor, out, export_json(db, batch), action="export", batch_code=batch,
        document="batch record, electronic copy (JSON)",
    )  # fmt: skip
    typer.echo(f"electronic copy of {batch} written to {output} (SHA-256 {written.sha256[:16]}…)")
    not_recorded(written.recorded)


def register(app: typer.Typer) -> None:
    """Add the document commands to the root command."""
    app.command("labels")(labels)
    app.add_typer(label_app, name="label")
    app.command("record")(record)
    app.command("export")(export)
