"""Commands of QA review: verify, sign, signatures, deviation open/update/close/list, review."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cellbatch.cli.common import (
    JsonOption,
    PasswordStdin,
    UserOption,
    database,
    login,
    read_secret,
    shown,
    table,
)

deviation_app = typer.Typer(
    help="Deviations: open, investigate, close (QA, signed).", no_args_is_help=True
)

EntryArg = Annotated[
    str, typer.Argument(metavar="ENTRY-ID", help="E<n> (step) or Q<n> (QC result).")
]
DeviationArg = Annotated[str, typer.Argument(metavar="DEVIATION-ID", help="D<n>.")]


def _signing_password(user: str, password_stdin: bool) -> str:
    return read_secret(f"Password for {user} (electronic signature)", from_stdin=password_stdin)


def verify_cmd(
    batch: str,
    entry: EntryArg,
    user: UserOption,
    password_stdin: PasswordStdin = False,
) -> None:
    """Verify a critical entry as a second person (a signature: asks your password)."""
    from cellbatch.services.commands.verification import verify

    password = _signing_password(user, password_stdin)
    sig = verify(database(), user, password, batch, entry)
    typer.echo(f"{entry.upper()} of {batch.upper()} verified by {user} (signature {sig})")


def sign_cmd(
    batch: str,
    entry: Annotated[str, typer.Argument(metavar="ENTRY-ID", help="E<n>, Q<n>, D<n> or 'batch'.")],
    meaning: Annotated[str, typer.Option(help="performed, reviewed or approved.")],
    user: UserOption,
    password_stdin: PasswordStdin = False,
) -> None:
    """Sign a record of a batch with a meaning (asks your password again)."""
    from cellbatch.services.commands.signatures import sign

    password = _signing_password(user, password_stdin)
    sig = sign(database(), user, password, batch, entry, meaning)
    typer.echo(f"{entry.upper()} of {batch.upper()} signed ({meaning}) by {user} (signature {sig})")


def signatures_cmd(
    batch: str,
    user: UserOption,
    json_out: JsonOption = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """List a batch's signatures: printed name, UTC time, meaning, and whether still valid."""
    from cellbatch.services.queries.signatures import batch_signatures

    sigs = shown(
        user, password_stdin, json_out, lambda db: batch_signatures(db, batch),
        lambda sigs: [s.to_dict() for s in sigs],
    )  # fmt: skip
    if sigs is None:
        return

    def validity(s) -> str:
        text = "valid" if s.valid else f"NOT VALID: {s.reason_invalid}"
        return text + (" (superseded)" if s.superseded else "")

    table(
        [[s.on, s.full_name, s.username, s.signed_at, s.meaning, validity(s)] for s in sigs],
        ["record", "printed name", "user", "signed (UTC)", "meaning", "valid"],
    )


@deviation_app.command("open")
def deviation_open(
    batch: str,
    title: Annotated[str, typer.Option(help="What happened, in a line.")],
    description: Annotated[str, typer.Option(help="What happened, in full.")],
    user: UserOption,
    classification: Annotated[
        str | None, typer.Option(help="minor, major or critical (may be set later).")
    ] = None,
    result: Annotated[
        str | None, typer.Option("--result", metavar="RESULT-ID", help="The OOS result it covers.")
    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Open a deviation on a batch by hand."""
    from cellbatch.services.commands.deviations import open_deviation

    db = database()
    actor = login(db, user, password_stdin)
    dev = open_deviation(
        db,
        actor,
        batch,
        title=title,
        description=description,
        classification=classification,
        qc_result=result,
    )
    typer.echo(f"D{dev}: deviation opened on {batch.upper()}")


@deviation_app.command("update")
def deviation_update(
    deviation: DeviationArg,
    user: UserOption,
    classification: Annotated[str | None, typer.Option(help="minor, major or critical.")] = None,
    investigation: Annotated[str | None, typer.Option(help="What the investigation found.")] = None,
    root_cause: Annotated[str | None, typer.Option(help="The root cause.")] = None,
    capa: Annotated[str | None, typer.Option(help="Corrective and preventive action.")] = None,
    reason: Annotated[
        str | None, typer.Option(help="Why, when changing a part already written.")
    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Record a deviation's classification, investigation, root cause or CAPA."""
    from cellbatch.services.commands.deviations import update_deviation

    db = database()
    actor = login(db, user, password_stdin)
    ref = update_deviation(
        db,
        actor,
        deviation,
        classification=classification,
        investigation=investigation,
        root_cause=root_cause,
        capa=capa,
        reason=reason,
    )
    typer.echo(f"{ref} updated")


@deviation_app.command("close")
def deviation_close(
    deviation: DeviationArg,
    user: UserOption,
    reason: Annotated[str | None, typer.Option(help="Basis of the closure.")] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Close an investigated deviation (QA; a signature: asks your password)."""
    from cellbatch.services.commands.deviations import close_deviation

    password = _signing_password(user, password_stdin)
    dev = close_deviation(database(), user, password, deviation, reason=reason)
    typer.echo(f"D{dev} closed and signed by {user}")


@deviation_app.command("list")
def deviation_list(
    user: UserOption,
    batch: Annotated[str | None, typer.Option("--batch", help="Only this batch's.")] = None,
    status: Annotated[str | None, typer.Option(help="open or closed.")] = None,
    json_out: JsonOption = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """List deviations, oldest first."""
    from cellbatch.services.queries.deviations import list_deviations

    rows = shown(
        user, password_stdin, json_out, lambda db: list_deviations(db, batch, status),
        lambda rows: [r.to_dict() for r in rows],
    )  # fmt: skip
    if rows is None:
        return
    table(
        [
            [r.id, r.batch, r.status, r.classification or "-", r.opened_at or "", r.title[:60]]
            for r in rows
        ],
        ["id", "batch", "status", "class", "opened (UTC)", "title"],
    )


def _lines(title: str, items: list[Any], show) -> None:
    if not items:
        return
    typer.echo(f"\n{title}:")
    for item in items:
        typer.echo(f"  {show(item)}")


def review_cmd(
    batch: str,
    user: UserOption,
    json_out: JsonOption = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Review by exception: what needs QA's eyes, and the release checklist."""
    from cellbatch.services.queries.review import review

    r = shown(user, password_stdin, json_out, lambda db: review(db, batch), lambda r: r.to_dict())
    if r is None:
        return
    typer.echo(f"Review of {r.batch} ({r.kind}, {r.status}) at {r.reviewed_at}")
    _lines(
        "Out-of-specification results",
        r.out_of_spec,
        lambda o: (
            f"{o.id} {o.name}: {o.value} (spec {o.specification}); "
            f"retests {', '.join(o.retests) or 'none'}; deviations "
            f"{', '.join(o.deviations) or 'none'}"
        ),
    )
    _lines(
        "Retests",
        r.retests,
        lambda o: f"{o.id} retest of {o.retest_of}: {'pass' if o.passed else 'FAIL'}",
    )
    _lines(
        "Deviations",
        r.deviations,
        lambda d: f"{d.id} [{d.status}, {d.classification or 'unclassified'}] {d.title}",
    )
    _lines(
        "Corrections",
        r.corrections,
        lambda c: (
            f"{c.entry}.{c.field}: {c.old_value} → {c.new_value} by {c.corrected_by} ({c.reason})"
        ),
    )
    _lines(
        f"Late entries (recorded more than {r.late_entry_hours:g} h after the work)",
        r.late_entries,
        lambda e: f"{e.id} {e.what}: {e.hours_late} h late, by {e.recorded_by}",
    )
    _lines(
        "Missing second-person verifications",
        r.missing_verifications,
        lambda v: f"{v.id} {v.what}: {v.status}",
    )
    _lines(
        "Invalid signatures",
        r.invalid_signatures,
        lambda s: f"{s.on} {s.meaning} by {s.full_name} at {s.signed_at}: {s.reason_invalid}",
    )
    if r.donor_eligibility:
        d = r.donor_eligibility
        typer.echo(f"\nDonor eligibility: {d.code} is {d.eligibility}")
    _lines(
        "SOP windows exceeded",
        r.sop_windows_exceeded,
        lambda w: f"{w.window}: {w.start} → {w.end}, {w.actual_hours} h (limit {w.limit})",
    )
    _lines(
        "Values flagged outside the SOP range",
        r.flagged_values,
        lambda f: f"{f.id} {f.what}: {'; '.join(f.flags)}",
    )
    _lines(
        "Doses near the tolerance limits",
        r.doses_near_tolerance,
        lambda d: (
            f"{d.entry}: {d.deviation_from_target_percent:+.1f} % of target "
            f"(tolerance ±{d.tolerance_percent:g} %)"
        ),
    )
    _lines("Issue, custody, bedside check and infusion", r.clinical_use.lines(), str)
    if r.checklist_decided_at:
        typer.echo(
            f"\nRelease checklist as it stands now ({r.status} on {r.checklist_decided_at}; "
            "the batch record keeps the checklist of that decision):"
        )
    else:
        typer.echo("\nRelease checklist:")
    for c in r.checklist:
        typer.echo(f"  [{'x' if c.met else ' '}] {c.description}: {c.detail}")
    if r.checklist_decided_at:
        typer.echo(f"\n{r.status.capitalize()} on {r.checklist_decided_at}: decided and locked.")
    else:
        typer.echo("\nReady for release." if r.ready_for_release else "\nNOT ready for release.")


def register(app: typer.Typer) -> None:
    """Add these commands to the root app."""
    app.command("verify")(verify_cmd)
    app.command("sign")(sign_cmd)
    app.command("signatures")(signatures_cmd)
    app.add_typer(deviation_app, name="deviation")
    app.command("review")(review_cmd)
