"""Commands for what leaves the system: bag labels, label scans, the batch record, the export."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from cellbatch.cli.common import PasswordStdin, UserOption, database, emit_json, login

label_app = typer.Typer(
    help="Bag labels: verify a printed label by scanning it.", no_args_is_help=True
)

OutputOption = Annotated[
    Path, typer.Option("--output", "-o", metavar="FILE", help="File to write.")
]


def _write_atomically(path: Path, data: bytes) -> Path:
    """Write ``data`` next to ``path`` under a temporary name; return that name."""
    from cellbatch.domain.errors import InvalidInput

    if path.is_dir():
        raise InvalidInput(
            "--output", f"{path} is a folder; expected a file name in it, e.g. {path / 'x.pdf'}"
        )
    if path.exists() and not path.is_file():
        raise InvalidInput("--output", f"{path} is not a regular file; expected a file name")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InvalidInput("--output", f"folder {folder} does not exist")
    temporary = folder / f".{path.name}.partial"
    try:
        temporary.write_bytes(data)
    except OSError as exc:
        raise InvalidInput("--output", f"cannot write {path}: {exc.strerror}") from None
    return temporary


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
    password_stdin: PasswordStdin = False,
) -> None:
    """Print the ISBT 128 bag labels of a dose batch to a PDF (counted and audited)."""
    from cellbatch.documents.labels import render
    from cellbatch.services.labels import print_labels

    db = database()
    actor = login(db, user, password_stdin)
    written: list[Path] = []

    def draw(bag_labels) -> None:
        written.append(_write_atomically(output, render(bag_labels)))

    try:
        printed = print_labels(db, actor, batch, draw, reprint=reprint, reason=reason)
        os.replace(written[0], output)
    finally:
        for path in written:
            if path.exists():
                path.unlink()
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
    from cellbatch.services.labels import verify_scans

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
) -> None:
    """Write the complete, human-readable batch record (PDF)."""
    from cellbatch.documents.batch_record import render
    from cellbatch.services.documents import record_data

    data = record_data(database(), batch)
    temporary = _write_atomically(output, render(data))
    os.replace(temporary, output)
    typer.echo(
        f"batch record of {batch} written to {output} "
        f"({len(data['batch']['steps'])} steps, {len(data['audit_trail'])} audit entries)"
    )


def export(
    batch: Annotated[str, typer.Argument(help="Batch code (bank or dose).")],
    output: OutputOption,
) -> None:
    """Write the complete electronic copy of the batch record (JSON)."""
    from cellbatch.services.documents import export_json

    temporary = _write_atomically(output, export_json(database(), batch))
    os.replace(temporary, output)
    typer.echo(f"electronic copy of {batch} written to {output}")


def register(app: typer.Typer) -> None:
    """Add the document commands to the root command."""
    app.command("labels")(labels)
    app.add_typer(label_app, name="label")
    app.command("record")(record)
    app.command("export")(export)
