"""Commands: donor add/test/eligibility/show, lot receive, material add/list."""

from __future__ import annotations

from typing import Annotated

import typer

from cellbatch.cli.common import (
    AtOption,
    JsonOption,
    PasswordStdin,
    UserOption,
    database,
    login,
    shown,
    table,
    when,
)
from cellbatch.cli.values import Date, DateTime, Quantity, Words

DonorArgument = Annotated[str, typer.Argument(metavar="DONOR", help="Donor code.")]

donor_app = typer.Typer(help="Donors, marker tests and eligibility.", no_args_is_help=True)
lot_app = typer.Typer(help="Tissue lots (donations) and their DIN.", no_args_is_help=True)
material_app = typer.Typer(help="Material (reagent) lots with expiry.", no_args_is_help=True)


@donor_app.command("add")
def donor_add(
    code: Annotated[
        str, typer.Argument(metavar="DONOR", help="Pseudonymous donor code (never a name).")
    ],
    relationship: Annotated[str, typer.Option(help="To the recipient: mother, unrelated, …")],
    sex: Annotated[str, Words("F", "M", help="The donor's sex.")],
    birth_year: Annotated[int, typer.Option("--birth-year", help="YYYY.")],
    user: UserOption,
    password_stdin: PasswordStdin = False,
) -> None:
    """Register a donor; eligibility starts as pending."""
    from cellbatch.services.commands.donors import add_donor

    db = database()
    actor = login(db, user, password_stdin)
    code = add_donor(
        db, actor, code, relationship=relationship, sex=sex.strip().upper(), birth_year=birth_year
    )
    typer.echo(f"donor {code} registered (eligibility pending)")


@donor_app.command("test")
def donor_test(
    code: DonorArgument,
    marker: Annotated[str, typer.Option(help="Marker, e.g. 'HIV-1/2 Ab'.")],
    result: Annotated[str, Words("negative", "reactive", help="The result.")],
    sampled: Annotated[str, Date(help="The sample's date.")],
    user: UserOption,
    password_stdin: PasswordStdin = False,
) -> None:
    """Record an infectious-disease marker result."""
    from cellbatch.domain.timeparse import parse_date
    from cellbatch.services.commands.donors import record_donor_test

    day = parse_date(sampled, field="--sampled")
    db = database()
    actor = login(db, user, password_stdin)
    record_donor_test(db, actor, code, marker=marker, result=result, sampled=day)
    typer.echo(f"{marker} {result} recorded for donor {code.upper()}")


@donor_app.command("eligibility")
def donor_eligibility(
    code: DonorArgument,
    status: Annotated[
        str, Words("eligible", "ineligible-related", "pending", help="The determination.")
    ],
    user: UserOption,
    reason: Annotated[str | None, typer.Option(help="Basis of the determination.")] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Set the donor eligibility determination (supervisor or QA)."""
    from cellbatch.services.commands.donors import set_eligibility

    db = database()
    actor = login(db, user, password_stdin)
    set_eligibility(db, actor, code, status, reason)
    typer.echo(f"donor {code.upper()}: {status}")


@donor_app.command("show")
def donor_show(
    code: DonorArgument,
    user: UserOption,
    json_out: JsonOption = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Show a donor with marker results."""
    from cellbatch.services.queries.donors import donor_view

    view = shown(
        user, password_stdin, json_out, lambda db: donor_view(db, code), lambda v: v.to_dict()
    )
    if view is None:
        return
    typer.echo(
        f"{view.code}: {view.relationship}, {view.sex}, born {view.birth_year}, "
        f"eligibility {view.eligibility}"
    )
    for t in view.tests:
        typer.echo(f"  {t.marker}: {t.result} (sampled {t.sampled})")


@lot_app.command("receive")
def lot_receive(
    lot: Annotated[str, typer.Argument(help="Tissue lot number.")],
    donor: Annotated[str, typer.Option(metavar="DONOR", help="Donor code.")],
    tissue: Annotated[str, Words("bone-marrow", "adipose", help="What was collected.")],
    amount: Annotated[
        str,
        Quantity(
            "volume",
            "mass",
            help="Amount received: a volume of marrow ('50 mL'), a mass of "
            "adipose tissue ('120 g').",
        ),
    ],
    collected: Annotated[
        str,
        DateTime(
            help="When the tissue was collected: YYYY-MM-DD HH:MM, local time (or with Z / "
            "+01:00); at most 7 days before the receipt (--at)."
        ),
    ],
    user: UserOption,
    temperature: Annotated[
        str | None, Quantity("temperature", help="Temperature at receipt, e.g. '4 degC'.")
    ] = None,
    at: AtOption = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Receive a donation; its ISBT 128 DIN is assigned now."""
    from cellbatch import units
    from cellbatch.domain.errors import InvalidInput
    from cellbatch.isbt128 import Din, check_character
    from cellbatch.services.commands.donors import receive_tissue_lot

    if tissue == "bone-marrow":
        quantity = units.parse(amount, "volume", field="--amount")
    elif tissue == "adipose":
        quantity = units.parse(amount, "mass", field="--amount")
    else:
        raise InvalidInput("--tissue", f"expected bone-marrow or adipose, got {tissue!r}")
    temp = units.parse(temperature, "temperature", field="--temperature") if temperature else None
    collected_at = when(collected, "--collected")
    db = database()
    actor = login(db, user, password_stdin)
    din = receive_tissue_lot(
        db,
        actor,
        lot,
        donor_code=donor,
        tissue=tissue,
        amount=quantity,
        collected=collected_at,
        received=when(at),
        receipt_temperature=temp,
    )
    typer.echo(
        f"tissue lot {lot.upper()} received: DIN {Din.from_code(din).eye_readable} "
        f"[{check_character(din)}]"
    )


@material_app.command("add")
def material_add(
    lot: Annotated[str, typer.Argument(help="Supplier lot number.")],
    kind: Annotated[str, typer.Option(help="medium, supplement, cryoprotectant, …")],
    name: Annotated[str, typer.Option(help="Material name.")],
    expires: Annotated[str, Date(help="The lot's expiry date.")],
    user: UserOption,
    password_stdin: PasswordStdin = False,
) -> None:
    """Register a material lot with its expiry."""
    from cellbatch.domain.timeparse import parse_date
    from cellbatch.services.commands.donors import add_material

    day = parse_date(expires, field="--expires")
    db = database()
    actor = login(db, user, password_stdin)
    add_material(db, actor, lot, kind=kind, name=name, expires=day)
    typer.echo(f"material lot {lot.strip()} ({kind}) registered, expires {day:%Y-%m-%d}")


@material_app.command("list")
def material_list(
    user: UserOption, json_out: JsonOption = False, password_stdin: PasswordStdin = False
) -> None:
    """List material lots, soonest expiry first."""
    from cellbatch.services.queries.donors import list_materials

    rows = shown(user, password_stdin, json_out, list_materials)
    if rows is None:
        return
    table(
        [[r["lot"], r["kind"], r["name"], r["expires"]] for r in rows],
        ["lot", "kind", "name", "expires"],
    )


def register(app: typer.Typer) -> None:
    """Add these commands to the root app."""
    app.add_typer(donor_app, name="donor")
    app.add_typer(lot_app, name="lot")
    app.add_typer(material_app, name="material")
