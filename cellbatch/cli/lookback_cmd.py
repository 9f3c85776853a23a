"""Commands: lookback forward/backward and recall (GMP-31: trace every product both ways)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cellbatch.cli.common import (
    JsonOption,
    PasswordStdin,
    UserOption,
    database,
    emit_json,
    read_secret,
    shown,
)

if TYPE_CHECKING:
    from cellbatch.services.queries.lookback import Lookback, Traceback

lookback_app = typer.Typer(
    help="Look-back: forward from a donor, tissue lot, material lot or bank to every vial, "
    "dose, bag and recipient; backward from a bag to its donor and materials.",
    no_args_is_help=True,
)

OriginArg = Annotated[
    str,
    typer.Argument(
        metavar="donor|tissue-lot|material-lot|bank", help="What the look-back starts from."
    ),
]
RefArg = Annotated[str, typer.Argument(metavar="REF", help="Its code or lot number.")]


def print_lookback(view: Lookback) -> None:
    """The forward look-back as text."""
    typer.echo(f"Look-back from {view.origin}")
    typer.echo(f"  banks: {len(view.banks)}")
    for b in view.banks:
        typer.echo(f"    {b.batch} ({b.status})")
    typer.echo(f"  vials: {len(view.vials)}")
    for v in view.vials:
        typer.echo(f"    {v.bank} vial {v.number} at {v.location}: {v.state}")
    typer.echo(f"  dose batches: {len(view.doses)}")
    for d in view.doses:
        who = f" for {d.recipient} infusion {d.infusion}" if d.recipient else ""
        typer.echo(f"    {d.batch} from {d.parent or '-'}{who} ({d.status})")
    typer.echo(f"  bags: {len(view.bags)}")
    for bag in view.bags:
        typer.echo(
            f"    {bag.batch} bag {bag.number}: {bag.din} {bag.product_code} → {bag.recipient}: "
            f"{bag.fate_text()}"
        )
    typer.echo(f"  recipients: {', '.join(view.recipients) or 'none'}")
    given = sorted({b.recipient or "?" for b in view.given})
    typer.echo(f"  given to: {', '.join(given) or 'nobody yet'}")


def print_traceback(view: Traceback) -> None:
    """The backward look-back as text."""
    what = f"{view.dose} {view.bag}" if view.bag else view.dose
    typer.echo(f"Back from {what} (recipient {view.recipient or '-'})")
    typer.echo(f"  bank: {view.bank or '-'}")
    for vial in view.vials:
        typer.echo(f"    {vial}")
    typer.echo(f"  tissue lot: {view.tissue_lot or '-'} (DIN {view.din or '-'})")
    typer.echo(f"  donor: {view.donor or '-'}")
    typer.echo(f"  materials: {len(view.materials)}")
    for m in view.materials:
        typer.echo(f"    {m.batch} {m.step}: {m.role} {m.lot} ({m.name}, expires {m.expires_on})")


@lookback_app.command("forward")
def lookback_forward(
    origin: OriginArg,
    ref: RefArg,
    user: UserOption,
    json_out: JsonOption = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Every bank, vial, dose batch, bag and recipient made from FROM REF."""
    from cellbatch.services.queries.lookback import forward

    view = shown(
        user, password_stdin, json_out, lambda db: forward(db, origin, ref), lambda v: v.to_dict()
    )
    if view is not None:
        print_lookback(view)


@lookback_app.command("backward")
def lookback_backward(
    batch: Annotated[str, typer.Argument(help="Dose batch code.")],
    user: UserOption,
    bag: Annotated[int | None, typer.Option(help="Bag number.")] = None,
    json_out: JsonOption = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """From a bag (or dose batch) back to its bank, vials, tissue lot, donor and materials."""
    from cellbatch.services.queries.lookback import backward

    view = shown(
        user, password_stdin, json_out, lambda db: backward(db, batch, bag), lambda v: v.to_dict()
    )
    if view is not None:
        print_traceback(view)


def recall_command(
    origin: OriginArg,
    ref: RefArg,
    reason: Annotated[str, typer.Option(help="Why the products are recalled.")],
    user: UserOption,
    json_out: JsonOption = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """QA recalls: everything the look-back from FROM REF lists goes on hold (signed)."""
    from cellbatch.services.commands.recall import recall

    password = read_secret(f"Password for {user} (electronic signature)", from_stdin=password_stdin)
    done = recall(database(), user, password, origin, ref, reason=reason)
    if json_out:
        emit_json({"hold": done.hold, "held": done.held, "lookback": done.lookback.to_dict(),
                   "adverse_events": done.adverse_events,
                   "adverse_events_open": done.adverse_events_open})  # fmt: skip
        return
    print_lookback(done.lookback)
    typer.echo(f"recall: hold {done.hold} on {', '.join(done.held)} (signed by {user})")
    for line in done.given_lines():
        typer.echo(line)
    for line in done.adverse_events:
        typer.echo(f"adverse-event report opened: {line}")
    for line in done.adverse_events_open:
        typer.echo(line)


def register(app: typer.Typer) -> None:
    """Add these commands to the root app."""
    app.add_typer(lookback_app, name="lookback")
    app.command("recall")(recall_command)
