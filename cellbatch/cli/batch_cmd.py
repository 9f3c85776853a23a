"""Commands: batch start/list/show, the process steps, qc record, correct, release."""

from __future__ import annotations

from pathlib import Path
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
from cellbatch.cli.values import DateTime, Quantity, StepQuantity, Words

batch_app = typer.Typer(help="Expansion batches (banks) and dose batches.", no_args_is_help=True)
passage_app = typer.Typer(help="Passages of an expansion batch.", no_args_is_help=True)
fucosylation_app = typer.Typer(help="Fucosylation of a dose batch.", no_args_is_help=True)
bag_app = typer.Typer(help="The filled bag of a dose batch.", no_args_is_help=True)
vial_app = typer.Typer(
    help="Cryovials: a bank frozen into them, a dose batch thawed from them.", no_args_is_help=True
)
qc_app = typer.Typer(help="QC results.", no_args_is_help=True)

Materials = Annotated[
    list[str] | None,
    typer.Option("--material", metavar="LOT", help="Material lot used (repeat for each)."),
]


@batch_app.command("start")
def batch_start(
    batch: Annotated[str, typer.Argument(help="New batch code.")],
    sop: Annotated[
        str, typer.Option("--sop", metavar="SOP-ID", help="SOP ID (latest approved version).")
    ],
    user: UserOption,
    lot: Annotated[
        str | None, typer.Option(metavar="LOT", help="Tissue lot: starts an expansion batch.")
    ] = None,
    parent: Annotated[
        str | None, typer.Option(metavar="BATCH", help="Released bank: starts a dose batch.")
    ] = None,
    recipient: Annotated[str | None, typer.Option(help="Recipient ID (dose).")] = None,
    weight: Annotated[
        str | None,
        Quantity("mass_body", help="Body weight (dose): checked against the recipient's."),
    ] = None,
    dose: Annotated[
        str | None, Quantity("cells_per_kg", help="Cells per kg (dose): checked against the plan.")
    ] = None,
    infusion: Annotated[
        int | None, typer.Option(help="Infusion number (dose): default the plan's next.")
    ] = None,
    sop_version: Annotated[
        str | None, typer.Option(metavar="VERSION", help="A specific SOP version.")
    ] = None,
    at: AtOption = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Start an expansion batch (--lot) or a dose batch (--parent ... --infusion N)."""
    from cellbatch.domain.errors import InvalidInput
    from cellbatch.services.commands.batches import start_dose, start_expansion

    if (lot is None) == (parent is None):
        raise InvalidInput(
            "--lot/--parent", "expected --lot (a bank) or --parent (a dose), not both or neither"
        )
    started = when(at)
    if parent is not None:
        if recipient is None:
            raise InvalidInput(
                "--recipient", "a dose batch needs --recipient (its plan gives dose and infusion)"
            )
    db = database()
    actor = login(db, user, password_stdin)
    if lot is not None:
        code = start_expansion(
            db, actor, batch, lot_number=lot, sop_id=sop, sop_version=sop_version, at=started
        )
    else:
        code = start_dose(
            db,
            actor,
            batch,
            parent=parent,
            sop_id=sop,
            recipient=recipient,
            weight=weight,
            dose=dose,
            infusion=infusion,
            sop_version=sop_version,
            at=started,
        )
    typer.echo(f"batch {code} started")


@batch_app.command("list")
def batch_list(
    user: UserOption,
    json_out: JsonOption = False,
    status: Annotated[str | None, typer.Option(help="Only batches with this status.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 200,
    offset: Annotated[int, typer.Option(help="Skip this many.")] = 0,
    after: Annotated[
        str | None,
        typer.Option(
            metavar="BATCH",
            help="Start after this batch (the last of the previous page): as fast on the "
            "last page as on the first.",
        ),
    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """List batches, newest first."""
    from cellbatch.services.queries.batch_list import list_batches

    rows = shown(
        user, password_stdin, json_out,
        lambda db: list_batches(db, offset=offset, limit=limit, status=status, after=after),
        lambda rows: [r.to_dict() for r in rows],
    )  # fmt: skip
    if rows is None:
        return
    table(
        [
            [r.code, r.kind, r.status, r.sop, r.started_at, r.parent or "", r.recipient or ""]
            for r in rows
        ],
        ["batch", "kind", "status", "SOP", "started (UTC)", "parent", "recipient"],
    )


@batch_app.command("show")
def batch_show(
    batch: str,
    user: UserOption,
    json_out: JsonOption = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Show everything recorded about a batch, with computed values."""
    from cellbatch.cli.batch_text import print_batch
    from cellbatch.services.queries.batch_view import batch_view

    view = shown(
        user, password_stdin, json_out, lambda db: batch_view(db, batch), lambda v: v.to_dict()
    )
    if view is not None:
        print_batch(view)


@passage_app.command("seed")
def passage_seed(
    batch: str,
    vessel: Annotated[str, typer.Option(help="T75, T175, T225, CS1, CS10, …")],
    vessels: Annotated[int, typer.Option(help="Number of vessels.")],
    cells: Annotated[str, StepQuantity("seed", "viable_cells", help="Viable cells seeded.")],
    user: UserOption,
    material: Materials = None,
    at: AtOption = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Seed a passage (viable cells seeded, checked as seeding density)."""
    from cellbatch.services.commands.steps import seed

    db = database()
    actor = login(db, user, password_stdin)
    entry = seed(
        db,
        actor,
        batch,
        vessel=vessel,
        vessels=vessels,
        cells=cells,
        materials=material,
        at=when(at),
    )
    typer.echo(f"E{entry}: passage seeded on {batch.upper()}")


@passage_app.command("harvest")
def passage_harvest(
    batch: str,
    cells: Annotated[str, StepQuantity("harvest", "total_cells", help="Total cells counted.")],
    viability: Annotated[str, StepQuantity("harvest", "viability")],
    user: UserOption,
    confluence: Annotated[str | None, StepQuantity("harvest", "confluence")] = None,
    material: Materials = None,
    at: AtOption = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Harvest the passage (total cells and viability → viable cells, PD)."""
    from cellbatch.services.commands.steps import harvest

    db = database()
    actor = login(db, user, password_stdin)
    entry = harvest(
        db,
        actor,
        batch,
        total_cells=cells,
        viability=viability,
        confluence=confluence,
        materials=material,
        at=when(at),
    )
    typer.echo(f"E{entry}: harvest recorded on {batch.upper()}")


def freeze_cmd(
    batch: str,
    vials: Annotated[int, typer.Option(help="Number of vials.")],
    cells_per_vial: Annotated[str, StepQuantity("freeze", "cells_per_vial")],
    volume_per_vial: Annotated[str, StepQuantity("freeze", "volume_per_vial")],
    cryoprotectant: Annotated[str, typer.Option(help="Cryoprotectant lot.")],
    location: Annotated[str, typer.Option(help="Tank / rack / box.")],
    user: UserOption,
    first_position: Annotated[int, typer.Option(help="Box position of vial 1.")] = 1,
    labels: Annotated[
        bool,
        typer.Option(
            "--labels", help="Then print the vial and QC sample tube labels (to --output)."
        ),
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="The labels' PDF (with --labels)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the labels' file if it exists.")
    ] = False,
    at: AtOption = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Cryopreserve the last harvest into vials (the bank); --labels -o FILE prints their labels.

    The labels are printed once the freeze is recorded (a second, counted transaction, as
    ``cellbatch label print BANK -o FILE`` would).
    """
    from cellbatch.cli.doc_cmd import output_file, print_bank_labels
    from cellbatch.domain.errors import InvalidInput
    from cellbatch.services.commands.steps import freeze

    if labels and output is None:
        raise InvalidInput("--output", "--labels writes the vial labels to a file: give -o FILE")
    if output is not None and not labels:
        raise InvalidInput("--labels", "-o FILE is the vial labels' file: give --labels too")
    db = database()
    out = output_file(db, output, force) if output is not None else None
    actor = login(db, user, password_stdin)
    entry = freeze(
        db,
        actor,
        batch,
        vials=vials,
        cells_per_vial=cells_per_vial,
        volume_per_vial=volume_per_vial,
        cryoprotectant=cryoprotectant,
        location=location,
        first_position=first_position,
        at=when(at),
    )
    typer.echo(f"E{entry}: {vials} vials frozen for {batch.upper()}")
    if out is None:
        typer.echo(
            f"  print their labels: `cellbatch label print {batch.upper()} -o FILE --user USER-ID`"
        )
        return
    print_bank_labels(db, actor, batch, out, output)


def thaw_cmd(
    batch: str,
    vials: Annotated[int, typer.Option(help="Number of vials thawed.")],
    cells: Annotated[str, StepQuantity("thaw", "total_cells", help="Total cells counted.")],
    viability: Annotated[str, StepQuantity("thaw", "viability")],
    user: UserOption,
    vial: Annotated[
        list[str] | None,
        typer.Option(
            "--vial",
            metavar="VIAL",
            help="A vial thawed (repeat): its number, its label's Data Matrix as scanned, or "
            "its label's text typed: the DIN with its check character and the six digits "
            "after the product code (e.g. 'A9999 26 000001 B 010005').",
        ),
    ] = None,
    material: Materials = None,
    at: AtOption = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Thaw vials of the parent bank and count."""
    from cellbatch.services.commands.steps import thaw

    db = database()
    actor = login(db, user, password_stdin)
    entry = thaw(
        db,
        actor,
        batch,
        vials=vials,
        total_cells=cells,
        viability=viability,
        vial_numbers=vial,
        materials=material,
        at=when(at),
    )
    typer.echo(f"E{entry}: {vials} vials thawed for {batch.upper()}")


@fucosylation_app.command("record")
def fucosylation_record(
    batch: str,
    enzyme_lot: Annotated[str, typer.Option("--enzyme-lot")],
    enzyme: Annotated[
        str, StepQuantity("fucosylation", "enzyme_concentration", help="Enzyme concentration.")
    ],
    gdp_fucose_lot: Annotated[str, typer.Option("--gdp-fucose-lot")],
    gdp_fucose: Annotated[
        str,
        StepQuantity("fucosylation", "gdp_fucose_concentration", help="GDP-fucose concentration."),
    ],
    cells: Annotated[
        str, StepQuantity("fucosylation", "cell_concentration", help="Cell concentration.")
    ],
    volume: Annotated[str, StepQuantity("fucosylation", "volume")],
    temperature: Annotated[str, StepQuantity("fucosylation", "temperature")],
    start: Annotated[str, DateTime(help="Start of the incubation.")],
    end: Annotated[str, DateTime(help="End of the incubation.")],
    user: UserOption,
    material: Materials = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Record the fucosylation (reagent lots, conditions, start and end)."""
    from cellbatch.services.commands.steps import fucosylation

    started, ended = when(start, "--start"), when(end, "--end")
    db = database()
    actor = login(db, user, password_stdin)
    entry = fucosylation(
        db,
        actor,
        batch,
        enzyme_lot=enzyme_lot,
        enzyme=enzyme,
        gdp_fucose_lot=gdp_fucose_lot,
        gdp_fucose=gdp_fucose,
        cells=cells,
        volume=volume,
        temperature=temperature,
        start=started,
        end=ended,
        materials=material,
    )
    typer.echo(f"E{entry}: fucosylation recorded on {batch.upper()}")


@bag_app.command("fill")
def bag_fill(
    batch: str,
    volume: Annotated[str, StepQuantity("fill", "volume", help="Volume in the bag.")],
    cells: Annotated[str, StepQuantity("fill", "viable_cells", help="Viable cells in the bag.")],
    user: UserOption,
    material: Materials = None,
    at: AtOption = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Formulate and fill the bag (volume and viable cells)."""
    from cellbatch.services.commands.steps import fill

    db = database()
    actor = login(db, user, password_stdin)
    entry = fill(db, actor, batch, volume=volume, cells=cells, materials=material, at=when(at))
    typer.echo(f"E{entry}: bag filled for {batch.upper()}")


@qc_app.command("record")
def qc_record(
    batch: str,
    test: Annotated[str, typer.Option(help="Test key or id from the SOP, e.g. viability.")],
    value: Annotated[str, typer.Option(help="Value with unit, or a word (negative, …).")],
    user: UserOption,
    method: Annotated[str | None, typer.Option(help="Method, if not the SOP's.")] = None,
    stage: Annotated[str | None, typer.Option(help="in-process or release.")] = None,
    at: AtOption = None,
    deviation: Annotated[
        str | None,
        typer.Option(
            metavar="DEVIATION-ID",
            help="A released batch's second late result of a test is a retest: the open "
            "deviation it is recorded under.",
        ),
    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Record a QC result; pass/fail is computed from the SOP's specification."""
    from cellbatch.services.commands.qc import record_qc

    db = database()
    actor = login(db, user, password_stdin)
    result = record_qc(
        db, actor, batch, test=test, value=value, method=method, stage=stage, at=when(at),
        deviation=deviation,
    )  # fmt: skip
    typer.echo(f"Q{result}: {test} recorded on {batch.upper()}")
    from cellbatch.services.queries.batch_view import batch_view

    view = batch_view(db, batch)
    q = next(q for q in view.qc if q.id == f"Q{result}")
    verdict = "PASS" if q.passed else "FAIL (out of specification: a deviation is opened)"
    typer.echo(f"  {q.name} ({q.qc_id}): {q.shown}, specification {q.specification}")
    typer.echo(f"  {verdict}")
    if not q.passed and view.status == "released":
        from cellbatch.services.queries.holds import is_held

        for hold in is_held(db, batch):
            typer.echo(f"  ON HOLD: {hold.text()}")


CORRECTABLE_FIELDS = (
    "The recorded value to correct. Any step: at (when the work was done). "
    "passage seed: vessel, vessels, viable_cells. "
    "passage harvest: total_cells, viability, confluence. "
    "vial freeze: cells_per_vial, volume_per_vial, location. "
    "vial thaw: vials, total_cells, viability. "
    "fucosylation record: enzyme_concentration, gdp_fucose_concentration, cell_concentration, "
    "volume, temperature. "
    "bag fill: volume, viable_cells. "
    "A QC result (Q<n>): value."
)
"""What ``correct --field`` accepts, per kind of entry (tests/test_cli_help.py holds it to the
service's own list)."""


def correct_cmd(
    batch: str,
    entry: Annotated[str, typer.Argument(metavar="ENTRY-ID", help="E<n> or Q<n>.")],
    field: Annotated[str, typer.Option(metavar="FIELD", help=CORRECTABLE_FIELDS)],
    value: Annotated[
        str, typer.Option(metavar="TEXT", help="The correct value, as it is recorded (QTY, …).")
    ],
    was: Annotated[
        str,
        typer.Option(
            metavar="TEXT",
            help="The value you are correcting, as batch show gives it: refused if the record "
            "no longer holds it (someone changed it since you looked).",
        ),
    ],
    reason: Annotated[str, typer.Option(help="Why (mandatory).")],
    user: UserOption,
    password_stdin: PasswordStdin = False,
) -> None:
    """Correct a recorded value; the original and the reason stay visible."""
    from cellbatch.services.commands.corrections import correct

    db = database()
    actor = login(db, user, password_stdin)
    correct(db, actor, batch, entry, field=field, value=value, reason=reason, was=was)
    typer.echo(f"{entry.upper()}.{field} corrected on {batch.upper()}")


def release_cmd(
    batch: str,
    decision: Annotated[str, Words("release", "reject", "quarantine", help="QA's decision.")],
    reason: Annotated[str, typer.Option(help="Basis of the decision.")],
    user: UserOption,
    password_stdin: PasswordStdin = False,
) -> None:
    """QA's signed decision on a batch (QA role only; asks your password again)."""
    from cellbatch.cli.common import read_secret
    from cellbatch.services.commands.release import decide

    password = read_secret(f"Password for {user} (electronic signature)", from_stdin=password_stdin)
    db = database()
    status = decide(db, user, batch, decision, reason, password=password)
    typer.echo(f"batch {batch.upper()} is now {status}, signed by {user}")
    if status == "released":
        from cellbatch.cli.archive_cmd import archive_after_release

        archive_after_release(db, user, batch)


def register(app: typer.Typer) -> None:
    """Add these commands to the root app."""
    app.add_typer(batch_app, name="batch")
    app.add_typer(passage_app, name="passage")
    app.add_typer(vial_app, name="vial")
    vial_app.command("freeze")(freeze_cmd)
    vial_app.command("thaw")(thaw_cmd)
    # the names before `vial freeze|thaw` (scripts of earlier versions): same commands, not listed
    app.command("freeze", hidden=True)(freeze_cmd)
    app.command("thaw", hidden=True)(thaw_cmd)
    app.add_typer(fucosylation_app, name="fucosylation")
    app.add_typer(bag_app, name="bag")
    app.add_typer(qc_app, name="qc")
    app.command("correct")(correct_cmd)
    app.command("release")(release_cmd)
