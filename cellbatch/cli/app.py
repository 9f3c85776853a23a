"""The root of the command line and its error handling: a message, never a traceback."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cellbatch.cli import (
    audit_cmd,
    batch_cmd,
    demo_cmd,
    doc_cmd,
    donor_cmd,
    hold_cmd,
    policy_cmd,
    qa_cmd,
    site_cmd,
    sop_cmd,
    tui_cmd,
    user_cmd,
)
from cellbatch.cli.common import STATE
from cellbatch.cli.terminal import check_text_arguments, terminal_safe_output
from cellbatch.domain.errors import CellbatchError

app = typer.Typer(
    name="cellbatch",
    help="Batch records and QC for MSC cell therapies, made under GMP.",
    no_args_is_help=False,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            metavar="URL",
            help="Database URL (sqlite:///PATH or postgresql://...). "
            "Default: $CELLBATCH_DATABASE_URL, else an SQLite file in your data folder.",
        ),
    ] = None,
) -> None:
    """Batch records and QC for MSC cell therapies, made under GMP.

    With no command, opens the terminal UI.
    """
    STATE.db_url = db
    if ctx.invoked_subcommand is None:
        tui_cmd.run_tui()


user_cmd.register(app)
policy_cmd.register(app)
sop_cmd.register(app)
site_cmd.register(app)
donor_cmd.register(app)
batch_cmd.register(app)
audit_cmd.register(app)
demo_cmd.register(app)
doc_cmd.register(app)
qa_cmd.register(app)
hold_cmd.register(app)
tui_cmd.register(app)


# typer >= 0.26 carries its own copy of click and no longer installs click itself, so click's
# base exception class is taken from typer (where it is found under either version) and click
# is never imported directly.
_USAGE_ERROR: type[Exception] = next(
    k for k in typer.BadParameter.__mro__ if k.__name__ == "ClickException"
)


def _fail(message: str, code: int) -> None:
    typer.echo(f"error: {message}", err=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Run the command line; every failure becomes a one-line message and an exit code."""
    command = check_text_arguments(typer.main.get_command(app))
    with terminal_safe_output():
        _run(command, argv)


def _run(command: typer.core.TyperGroup, argv: list[str] | None) -> None:
    try:
        code = command(args=argv, standalone_mode=False, prog_name="cellbatch")
    except CellbatchError as exc:
        _fail(str(exc), exc.exit_code)
    except typer.Abort:
        _fail("aborted", 130)
    except _USAGE_ERROR as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as exc:  # an outage or a bug; still no traceback for the user
        from cellbatch.services.database import explain_failure

        known = explain_failure(exc)
        if known is not None:
            _fail(str(known), known.exit_code)
        _fail(
            f"unexpected {type(exc).__name__}. Nothing was saved. "
            "Please report this with the command you ran.",
            70,
        )
    else:
        if isinstance(code, int) and code:
            sys.exit(code)
