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
    help="Labels: print, verify by scanning, record a destroyed label, reconciliation.",
    no_args_is_help=True,
)

OutputOption = Annotated[
    Path,
    typer.Option(
        "--output", "-o", metavar="FILE", help="File to write (a new file, unless --force)."
    ),
]
ForceOption = Annotated[bool, typer.Option("--force", help="Replace the output file if it exists.")]


def output_file(db, path: Path, force: bool):
    """The output file, checked now: before any password is asked or page is drawn."""
    from cellbatch.services.output_files import OutputFile

    return OutputFile(path, force=force, protected=db.files())


def labels(
    batch: Annotated[str, typer.Argument(help="Dose batch (bag labels) or bank (vial labels).")],
    output: OutputOption,
    user: UserOption,
    reprint: Annotated[
        bool, typer.Option("--reprint", help="Print again; the label is marked as a reprint.")
    ] = False,
    reason: Annotated[
        str | None, typer.Option("--reason", metavar="TEXT", help="Why the reprint is needed.")
    ] = None,
    approver: Annotated[
        str | None,
        typer.Option(
            "--approver",
            metavar="USER-ID",
            help="QA officer who signs the reprint of a released label (their password is "
            "asked after yours; with --password-stdin, on the next line).",
        ),
    ] = None,
    vial: Annotated[
        list[int] | None,
        typer.Option(
            "--vial", metavar="N", help="A bank's vial whose label is reprinted (repeat)."
        ),
    ] = None,
    force: ForceOption = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Print the ISBT 128 labels of a batch to a PDF (counted and audited).

    A dose batch: its bag labels (100 × 100 mm). A bank: the small labels of its cryovials and
    QC sample tubes, at the freeze. The PDF is on disk under its name before the print is
    counted: a crash between the two leaves a label file that was not counted, never a counted
    label without its file.
    """
    from cellbatch.cli.common import read_secret
    from cellbatch.documents.labels import render
    from cellbatch.services.commands.labels import print_labels
    from cellbatch.services.queries.labels import batch_kind

    db = database()
    out = output_file(db, output, force)
    bank = batch_kind(db, batch) == "expansion"
    if vial and not bank:
        from cellbatch.domain.errors import InvalidInput

        raise InvalidInput("--vial", f"{batch} is a dose batch: --vial names a bank's vials")
    actor = login(db, user, password_stdin)
    approval = None
    if approver is not None:
        secret = read_secret(
            f"Password for {approver} (electronic signature: approves the reprint)",
            from_stdin=password_stdin,
        )
        approval = (approver, secret)

    def draw(bag_labels) -> bytes:
        document = render(bag_labels)
        out.write(document)
        out.publish()
        return document

    if bank:
        print_bank_labels(db, actor, batch, out, output, reprint, reason, vial, approval)
        return
    with out:
        printed = print_labels(
            db, actor, batch, draw, reprint=reprint, reason=reason, approver=approval
        )
    kind = "final" if printed[0].final else "QUARANTINE (not released)"
    what = "reprinted" if reprint else "printed"
    typer.echo(f"{len(printed)} {kind} label(s) of {batch} {what} to {output}")
    for label in printed:
        typer.echo(
            f"  bag {label.bag_number}: DIN {label.din_eye_readable} [{label.check_character}] "
            f"flags {label.flags}, product {label.product_code}, expiry {label.expiry_local} "
            f"{label.expiry_zone} ({label.expiry_utc} UTC) · {label.site_settings}"
        )
        codes = label.barcodes()
        typer.echo(
            f"    barcodes: DIN {codes['din']}  product {codes['product_code']}  "
            f"expiry {codes['expiry']}"
        )
    _ask_to_destroy(db, batch)


def _ask_to_destroy(db, batch: str) -> None:
    """Name the superseded labels still to destroy (none: nothing is asked)."""
    from cellbatch.services.queries.labels import label_history

    for ref in label_history(db, batch).to_destroy:
        typer.echo(
            f"  {ref} is superseded: destroy it and record it "
            f"(`cellbatch label destroy {batch} --label {ref} --reason TEXT --user USER-ID`)"
        )


def print_bank_labels(
    db, actor, batch, out, output, reprint=False, reason=None, vials=None, approval=None
) -> None:
    """Print a bank's vial and QC tube labels (``label print BANK``, ``vial freeze --labels``)."""
    from cellbatch.documents.vial_labels import render_vials
    from cellbatch.services.commands.vial_labels import print_vial_labels

    def draw(small) -> bytes:
        document = render_vials(small)
        out.write(document)
        out.publish()
        return document

    with out:
        printed = print_vial_labels(
            db, actor, batch, draw, reprint=reprint, reason=reason, vials=vials, approver=approval
        )
    what = "reprinted" if reprint else "printed"
    typer.echo(f"{len(printed)} vial and QC sample label(s) of {batch} {what} to {output}")
    for label in printed:
        typer.echo(
            f"  {label.title}: DIN {label.din_eye_readable} [{label.check_character}] flags "
            f"{label.flags}, product {label.product_code}"
            + (f" divisions {label.divisions}" if label.divisions else "")
            + (f" ({label.sample_name})" if label.sample_name else "")
            + f" · Data Matrix {label.datamatrix}"
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
        if report.label:
            typer.echo(f"  label in force: {report.label}")
    if not report.ok:
        raise RuleViolation(report.summary())
    if not json_out:
        typer.echo(report.summary())


@label_app.command("destroy")
def label_destroy(
    batch: Annotated[str, typer.Argument(help="Batch code.")],
    label: Annotated[
        str, typer.Option("--label", metavar="LABEL-ID", help="The label destroyed (e.g. L3).")
    ],
    reason: Annotated[str, typer.Option("--reason", metavar="TEXT", help="How it was destroyed.")],
    user: UserOption,
    password_stdin: PasswordStdin = False,
) -> None:
    """Record that a superseded label was destroyed (label reconciliation)."""
    from cellbatch.services.commands.labels import destroy_label

    db = database()
    actor = login(db, user, password_stdin)
    done = destroy_label(db, actor, batch, label, reason)
    typer.echo(f"{done.title} recorded destroyed by {done.destroyed_by} at {done.destroyed_at}")


@label_app.command("history")
def label_history_cmd(
    batch: Annotated[str, typer.Argument(help="Batch code.")],
    user: UserOption,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Label reconciliation: every label printed, the one in force, applied, destroyed."""
    from cellbatch.services.queries.labels import label_history

    db = database()
    login(db, user, password_stdin)
    history = label_history(db, batch)
    if json_out:
        emit_json(history.to_dict())
        return
    for label in history.labels:
        fate = label.status
        if label.superseded_by:
            fate += f" by {label.superseded_by}"
        if label.applied_at:
            fate += f"; applied {label.applied_at} ({label.applied_by})"
        if label.destroyed_at:
            fate += f"; destroyed {label.destroyed_at} ({label.destroyed_by})"
        typer.echo(
            f"{label.ref:>5}  {label.target:<8} flags {label.flags}  printed "
            f"{label.printed_at} by {label.printed_by} · {label.site_settings} · "
            f"sha256 {label.content_hash[:12]} · {fate}"
        )
    typer.echo(
        f"printed {history.printed} + reprinted {history.reprinted}, applied "
        f"{history.applied}, destroyed {history.destroyed}; to destroy: "
        f"{', '.join(history.to_destroy) or 'none'}"
    )


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
    out = output_file(db, output, force)
    actor = login(db, user, password_stdin)
    data = record_data(db, batch)
    written = write_document(
        db, actor, out, render(data), action="print", batch_code=batch,
        document="batch record (PDF)",
    )  # fmt: skip
    typer.echo(
        f"batch record of {batch} written to {output} "
        f"({len(data.batch.steps)} steps, {len(data.audit_trail)} audit entries; "
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
    out = output_file(db, output, force)
    actor = login(db, user, password_stdin)
    written = write_document(
        db, actor, out, export_json(db, batch), action="export", batch_code=batch,
        document="batch record, electronic copy (JSON)",
    )  # fmt: skip
    typer.echo(f"electronic copy of {batch} written to {output} (SHA-256 {written.sha256[:16]}…)")
    not_recorded(written.recorded)


def register(app: typer.Typer) -> None:
    """Add the document commands to the root command."""
    label_app.command("print")(labels)
    # the name before `label print` (scripts of earlier versions): same command, not listed
    app.command("labels", hidden=True)(labels)
    app.add_typer(label_app, name="label")
    app.command("record")(record)
    app.command("export")(export)
