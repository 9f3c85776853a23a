"""Commands: recipient register/list/show/weight and identity set/show (the clinic's records)."""

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
    shown,
    table,
)
from cellbatch.cli.values import Date, Quantity

recipient_app = typer.Typer(
    help="Recipients: pseudonymous ID, trial, cohort, body weight; who they are (clinic, QA).",
    no_args_is_help=True,
)
identity_app = typer.Typer(
    help="Who a recipient is (name, date of birth, hospital number): clinic and QA only.",
    no_args_is_help=True,
)

RecipientArg = Annotated[
    str, typer.Argument(metavar="RECIPIENT", help="Pseudonymous recipient ID, e.g. EB-P001.")
]
WeightOption = Annotated[str, Quantity("mass_body", name="--weight", help="Body weight (70 kg).")]
WeighedOption = Annotated[
    str | None, Date("--weighed-on", help="Day of weighing (default: today).")
]


def _day(text: str | None, field: str):
    from datetime import date

    from cellbatch.domain.timeparse import parse_date

    return date.today() if text is None else parse_date(text, field=field)


@recipient_app.command("register")
def recipient_register(
    recipient: RecipientArg,
    trial: Annotated[str, typer.Option(help="The trial's code, e.g. EASC-RA.")],
    weight: WeightOption,
    user: UserOption,
    cohort: Annotated[int, typer.Option(help="Cohort number (its dose is fixed).")] = 1,
    weighed_on: WeighedOption = None,
    donor: Annotated[
        str | None, typer.Option(help="The related donor's code (a directed donation).")
    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Register a recipient (the clinic): no dose batch is started for an unregistered one."""
    from cellbatch.services.commands.recipients import register_recipient

    day = _day(weighed_on, "--weighed-on")
    db = database()
    actor = login(db, user, password_stdin)
    code = register_recipient(
        db, actor, recipient, trial=trial, cohort=cohort, weight=weight, weighed_on=day,
        donor=donor,
    )  # fmt: skip
    typer.echo(f"recipient {code} registered")


@recipient_app.command("weight")
def recipient_weight(
    recipient: RecipientArg,
    weight: WeightOption,
    user: UserOption,
    weighed_on: WeighedOption = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Record a recipient's new body weight (the next dose is made for it)."""
    from cellbatch.services.commands.recipients import record_weight

    day = _day(weighed_on, "--weighed-on")
    db = database()
    actor = login(db, user, password_stdin)
    kg = record_weight(db, actor, recipient, weight=weight, weighed_on=day)
    typer.echo(f"{recipient.strip().upper()}: {kg:g} kg on {day}")


@recipient_app.command("list")
def recipient_list(
    user: UserOption, json_out: JsonOption = False, password_stdin: PasswordStdin = False
) -> None:
    """Every registered recipient (pseudonymous: never who they are)."""
    from cellbatch.services.queries.recipients import recipient_list as listed

    views = shown(user, password_stdin, json_out, listed, lambda vs: [v.to_dict() for v in vs])
    if views is None:
        return
    if not views:
        typer.echo("no recipient registered")
        return
    table(
        [
            [
                v.code,
                v.trial,
                str(v.cohort),
                f"{v.weight_kg:g} kg ({v.weighed_on})" if v.weight_kg else "-",
                v.donor or "-",
            ]
            for v in views
        ],
        ["recipient", "trial", "cohort", "body weight", "related donor"],
    )


@recipient_app.command("show")
def recipient_show(
    recipient: RecipientArg,
    user: UserOption,
    json_out: JsonOption = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """One recipient: trial, cohort, weights, related donor, dose batches."""
    from cellbatch.services.queries.recipients import recipient_view

    view = shown(
        user,
        password_stdin,
        json_out,
        lambda db: recipient_view(db, recipient),
        lambda v: v.to_dict(),
    )
    if view is None:
        return
    typer.echo(f"{view.code}: trial {view.trial}, cohort {view.cohort}")
    typer.echo(f"  related donor: {view.donor or 'none'}")
    typer.echo(f"  identity on file: {'yes' if view.identity_on_file else 'NO'}")
    for w in view.weights:
        typer.echo(f"  weight {w.weight_kg:g} kg on {w.measured_on}")
    for d in view.dose_batches:
        typer.echo(f"  dose batch {d['batch']} (infusion {d['infusion']}, {d['status']})")


@identity_app.command("set")
def identity_set(
    recipient: RecipientArg,
    name: Annotated[str, typer.Option(help="The patient's full name.")],
    born: Annotated[str, Date("--born", help="Date of birth.")],
    hospital_number: Annotated[str, typer.Option(help="The hospital's patient number.")],
    user: UserOption,
    reason: Annotated[
        str | None, typer.Option(help="Why, when correcting an identity on file.")
    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Record (or correct) who a recipient is: the clinic only."""
    from cellbatch.domain.timeparse import parse_date
    from cellbatch.services.commands.recipients import set_identity

    day = parse_date(born, field="--born")
    db = database()
    actor = login(db, user, password_stdin)
    set_identity(
        db, actor, recipient, name=name, born=day, hospital_number=hospital_number, reason=reason
    )
    typer.echo(f"identity of {recipient.strip().upper()} recorded")


@identity_app.command("show")
def identity_show(
    recipient: RecipientArg,
    user: UserOption,
    json_out: JsonOption = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Who a recipient is (clinic and QA); the reading is recorded in the audit trail."""
    from cellbatch.services.commands.recipients import show_identity

    db = database()
    actor = login(db, user, password_stdin)
    view = show_identity(db, actor, recipient)
    if json_out:
        emit_json(view.to_dict())
        return
    typer.echo(
        f"{view.recipient}: {view.name}, born {view.born}, hospital number {view.hospital_number}"
    )


def register(app: typer.Typer) -> None:
    """Add these commands to the root app."""
    recipient_app.add_typer(identity_app, name="identity")
    app.add_typer(recipient_app, name="recipient")
