"""Commands: plan create/show/move/today (recipients' treatment plans, made by the clinic)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cellbatch.cli.common import (
    JsonOption,
    PasswordStdin,
    UserOption,
    database,
    login,
    shown,
    table,
    when,
)
from cellbatch.cli.values import DateTime, Quantity

if TYPE_CHECKING:
    from cellbatch.services.queries.plans import InfusionPlanView, PlanView

plan_app = typer.Typer(
    help="Treatment plans: infusion days and dates, make-by times, which are done.",
    no_args_is_help=True,
)

RecipientArg = Annotated[
    str, typer.Argument(metavar="RECIPIENT", help="Pseudonymous recipient ID, e.g. RA-P001.")
]


def _short(iso: str | None) -> str:
    """``2026-12-02T10:00:00Z`` as ``2026-12-02 10:00Z``."""
    return "-" if iso is None else iso.replace("T", " ")[:16] + "Z"


def print_plan(view: PlanView) -> None:
    """The plan as text: one line per infusion."""
    typer.echo(
        f"{view.recipient} (trial {view.trial}, cohort {view.cohort}): {view.sop}, "
        f"{view.dose_per_kg}; day 1 {view.day_one}; window ± {view.window_days} d; "
        f"bag ready {view.lead} before the infusion"
    )
    if view.coi:
        typer.echo(
            f"chain-of-identity identifier: {view.coi_eye_readable} [{view.coi_check}]  "
            f"(bar code {view.coi})"
        )
    table(
        [
            [
                str(i.number),
                f"day {i.day}",
                _short(i.planned_at),
                i.window,
                _short(i.thaw_from),
                _short(i.fill_by),
                i.batch or "-",
                i.state,
                _given(i),
            ]
            for i in view.infusions
        ],
        ["#", "day", "infusion (UTC)", "window", "thaw from", "fill by", "batch", "state",
         "infusion record"],
    )  # fmt: skip


def _given(infusion: InfusionPlanView) -> str:
    """``IR1 2026-11-27 10:30-11:00Z`` (the bag's infusion record), or ``-``."""
    if infusion.infusion_record is None:
        return "-"
    if infusion.infused_from is None or infusion.infused_to is None:
        return f"{infusion.infusion_record} {infusion.fate}"
    return (
        f"{infusion.infusion_record} {_short(infusion.infused_from)[:-1]}-"
        f"{_short(infusion.infused_to)[11:]}"
    )


@plan_app.command("create")
def plan_create(
    recipient: RecipientArg,
    sop: Annotated[str, typer.Option("--sop", help="The dose SOP (its infusion days).")],
    first: Annotated[
        str, DateTime("--first", help="Day 1's infusion (later days at the same time of day).")
    ],
    user: UserOption,
    window: Annotated[int, typer.Option(help="± days allowed for later infusions.")] = 1,
    lead: Annotated[
        str, Quantity("duration", help="Fill to infusion: release, issue, transport.")
    ] = "1 h",
    dose: Annotated[
        str | None, Quantity("cells_per_kg", help="Check: the cohort's dose per kg.")
    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Plan a recipient's infusions (the clinic): the SOP's days from day 1, the cohort's dose."""
    from datetime import timedelta

    from cellbatch import units
    from cellbatch.services.commands.plans import create_plan
    from cellbatch.services.queries.plans import plan_view

    start = when(first, "--first")
    minutes = units.parse(lead, "duration", field="--lead")
    db = database()
    actor = login(db, user, password_stdin)
    create_plan(
        db, actor, recipient, sop_id=sop, first_infusion=start, window_days=window,
        lead=timedelta(minutes=minutes), dose=dose,
    )  # fmt: skip
    print_plan(plan_view(db, recipient))


@plan_app.command("show")
def plan_show(
    recipient: RecipientArg,
    user: UserOption,
    json_out: JsonOption = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """A recipient's plan: days 1, 8, 15 … with dates, make-by times and which are done."""
    from cellbatch.services.queries.plans import plan_view

    view = shown(
        user, password_stdin, json_out, lambda db: plan_view(db, recipient), lambda v: v.to_dict()
    )
    if view is not None:
        print_plan(view)


@plan_app.command("move")
def plan_move(
    recipient: RecipientArg,
    infusion: Annotated[int, typer.Option(help="The infusion number.")],
    at: Annotated[str, DateTime("--at", help="New infusion time.")],
    reason: Annotated[str, typer.Option(help="Why it moves.")],
    user: UserOption,
    password_stdin: PasswordStdin = False,
) -> None:
    """Move a planned infusion within the plan's window (until its dose is started)."""
    from cellbatch.services.commands.plans import move_infusion

    moment = when(at)
    db = database()
    actor = login(db, user, password_stdin)
    moved = move_infusion(db, actor, recipient, infusion, moment, reason=reason)
    typer.echo(f"{recipient.strip().upper()} infusion {infusion} moved to {moved:%Y-%m-%d %H:%M}Z")


@plan_app.command("today")
def plan_today(
    user: UserOption,
    json_out: JsonOption = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """What must be made today for the planned infusions, and by when."""
    from datetime import UTC, datetime

    from cellbatch.services.queries.plans import due_today

    def as_json(rows):
        return [
            {
                "recipient": d.recipient,
                "infusion": d.infusion,
                "sop": d.sop,
                "planned_at": d.planned_at.isoformat(),
                "thaw_from": d.thaw_from.isoformat(),
                "fill_by": d.fill_by.isoformat(),
                "batch": d.batch,
            }
            for d in rows
        ]

    rows = shown(
        user, password_stdin, json_out, lambda db: due_today(db, datetime.now(UTC).date()), as_json
    )
    if rows is None:
        return
    if not rows:
        typer.echo("nothing to make today")
        return
    table(
        [
            [
                d.recipient,
                str(d.infusion),
                d.sop,
                f"{d.thaw_from:%m-%d %H:%M}",
                f"{d.fill_by:%m-%d %H:%M}",
                f"{d.planned_at:%m-%d %H:%M}",
                d.batch or "not started",
            ]
            for d in rows
        ],
        ["recipient", "#", "SOP", "thaw from", "fill by", "infusion", "batch"],
    )


def register(app: typer.Typer) -> None:
    """Add these commands to the root app."""
    app.add_typer(plan_app, name="plan")
