"""Commands: hold list/show/check/lift (products held after new information, lifted by QA)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cellbatch.cli.common import (
    JsonOption,
    PasswordStdin,
    UserOption,
    database,
    emit_json,
    login,
    read_secret,
    table,
)

if TYPE_CHECKING:
    from cellbatch.services.queries.holds import HoldView

hold_app = typer.Typer(
    help="Products on hold (new donor information, late results, recalls); QA lifts them.",
    no_args_is_help=True,
)

HoldArg = Annotated[str, typer.Argument(metavar="HOLD-ID", help="H<n>.")]


def _print_hold(view: HoldView) -> None:
    state = "IN FORCE" if view.in_force else "lifted"
    donor = f", donor {view.donor}" if view.donor else ""
    typer.echo(f"{view.ref} ({view.cause}{donor}) {state}: {view.reason}")
    typer.echo(f"  placed {view.placed_at} by {view.placed_by}")
    for item in view.items:
        who = f" for {item.recipient} infusion {item.infusion}" if item.recipient else ""
        held = (
            "HELD"
            if item.held
            else f"lifted {item.lifted_at} by {item.lifted_by}: {item.lift_reason}"
        )
        typer.echo(
            f"  {item.batch} ({item.kind}{who}, {item.status}) {held}; deviation "
            f"{item.deviation} ({item.deviation_status})"
        )
        for bag in item.bags:
            typer.echo(f"    {bag}")
    typer.echo(f"  recipients: {', '.join(view.recipients) or 'none'}")


@hold_app.command("list")
def hold_list(
    user: UserOption,
    all_holds: Annotated[
        bool, typer.Option("--all", help="Lifted holds too, not only those in force.")
    ] = False,
    json_out: JsonOption = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """List holds in force (newest first): why, what is held, the recipients concerned."""
    from cellbatch.services.queries.holds import hold_views

    db = database(read_only=True)
    login(db, user, password_stdin)
    views = hold_views(db, in_force_only=not all_holds)
    if json_out:
        emit_json([v.to_dict() for v in views])
        return
    if not views:
        typer.echo("no hold in force" if not all_holds else "no hold was ever placed")
        return
    table(
        [
            [
                v.ref,
                v.cause,
                "in force" if v.in_force else "lifted",
                ", ".join(i.batch for i in v.items if i.held) or "-",
                ", ".join(v.recipients) or "-",
            ]
            for v in views
        ],
        ["hold", "cause", "state", "held batches", "recipients"],
    )


@hold_app.command("show")
def hold_show(
    hold: HoldArg,
    user: UserOption,
    json_out: JsonOption = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Show one hold: every batch and bag it names, its deviations and the recipients."""
    from cellbatch.services.queries.holds import hold_view

    db = database(read_only=True)
    login(db, user, password_stdin)
    view = hold_view(db, hold)
    if json_out:
        emit_json(view.to_dict())
        return
    _print_hold(view)


@hold_app.command("check")
def hold_check(
    batch: Annotated[str, typer.Argument(help="Batch code.")],
    user: UserOption,
    bag: Annotated[int | None, typer.Option(help="Bag number.")] = None,
    json_out: JsonOption = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Is this batch (or bag) on hold? Exit 1 when it is."""
    from cellbatch.services.queries.holds import is_held

    db = database(read_only=True)
    login(db, user, password_stdin)
    holds = is_held(db, batch, bag)
    what = batch.strip().upper() + (f" bag {bag}" if bag is not None else "")
    if json_out:
        emit_json({"batch": what, "held": bool(holds), "holds": [h.to_dict() for h in holds]})
    elif holds:
        typer.echo(f"{what} is ON HOLD: " + "; ".join(h.text() for h in holds))
    else:
        typer.echo(f"{what} is not on hold")
    if holds:
        raise typer.Exit(1)


@hold_app.command("lift")
def hold_lift(
    hold: HoldArg,
    reason: Annotated[str, typer.Option(help="The basis of QA's decision.")],
    user: UserOption,
    batch: Annotated[
        str | None, typer.Option(help="Lift it from this batch only (default: all still held).")
    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """QA lifts a hold, once each batch's deviation is closed (a signature: asks your password)."""
    from cellbatch.services.commands.holds import lift_hold

    password = read_secret(f"Password for {user} (electronic signature)", from_stdin=password_stdin)
    lifted = lift_hold(database(), user, password, hold, reason=reason, batch=batch)
    typer.echo(f"hold {hold.strip().upper()} lifted from {', '.join(lifted)} by {user} (signed)")


def register(app: typer.Typer) -> None:
    """Add these commands to the root app."""
    app.add_typer(hold_app, name="hold")
