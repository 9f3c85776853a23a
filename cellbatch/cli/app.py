"""The root of the command line and its error handling: a message, never a traceback."""

from __future__ import annotations

import copy
import sys
from typing import Annotated, Any

import typer

from cellbatch.cli import (
    adverse_cmd,
    archive_cmd,
    audit_cmd,
    backup_cmd,
    batch_cmd,
    bedside_cmd,
    clock_cmd,
    custody_cmd,
    demo_cmd,
    doc_cmd,
    donor_cmd,
    hold_cmd,
    lookback_cmd,
    plan_cmd,
    policy_cmd,
    qa_cmd,
    recipient_cmd,
    serve_cmd,
    site_cmd,
    sop_cmd,
    tui_cmd,
    user_cmd,
)
from cellbatch.cli.common import STATE
from cellbatch.cli.help_style import uniform_help
from cellbatch.cli.terminal import check_text_arguments, terminal_safe_output
from cellbatch.domain.errors import CellbatchError, InvalidInput
from cellbatch.domain.text import encoding_error

app = typer.Typer(
    name="cellbatch",
    help="Batch records and QC for MSC cell therapies, made under GMP.",
    no_args_is_help=False,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            metavar="URL",
            help="Database URL (sqlite:///PATH or postgresql://...), before or after the "
            "command. Default: $CELLBATCH_DATABASE_URL, else an SQLite file in your data folder.",
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
recipient_cmd.register(app)
plan_cmd.register(app)
lookback_cmd.register(app)
bedside_cmd.register(app)
custody_cmd.register(app)
adverse_cmd.register(app)
tui_cmd.register(app)
serve_cmd.register(app)
clock_cmd.register(app)
backup_cmd.register(app)
archive_cmd.register(app)


# typer >= 0.26 carries its own copy of click and no longer installs click itself, so click's
# base exception class is taken from typer (where it is found under either version) and click
# is never imported directly.
_USAGE_ERROR: type[Exception] = next(
    k for k in typer.BadParameter.__mro__ if k.__name__ == "ClickException"
)


def _fail(message: str, code: int) -> None:
    typer.echo(f"error: {message}", err=True)
    sys.exit(code)


def _db_after_the_command(_ctx: Any, _param: Any, value: str | None) -> None:
    """``--db`` given after the command: the same database option as before it."""
    if value is None:
        return
    problem = encoding_error(value)
    if problem is not None:
        raise InvalidInput("--db", problem)
    if STATE.db_url is not None and STATE.db_url != value:
        raise InvalidInput(
            "--db", "given twice, before and after the command; expected one database URL"
        )
    STATE.db_url = value


def accept_db_after_commands(command: Any, db_option: Any | None = None) -> Any:
    """``command`` (the click tree) with ``--db`` accepted after every command as well."""
    if db_option is None:
        db_option = next(p for p in command.params if p.name == "db")
    for sub in getattr(command, "commands", {}).values():
        if hasattr(sub, "commands"):
            accept_db_after_commands(sub, db_option)
            continue
        option = copy.copy(db_option)
        option.expose_value = False
        option.callback = _db_after_the_command
        option.help = "Database URL, as --db before the command."
        sub.params.append(option)
    return command


def command_named(args: list[str]) -> str | None:
    """The group or command ``args`` name (the first word after the root's ``--db URL``).

    None when the root is asked for itself: no command, or a root option such as ``--help``.
    """
    words = iter(args)
    for word in words:
        if word == "--db":
            next(words, None)
        elif not word.startswith("--db="):
            return None if word.startswith("-") else word
    return None


def tree_for(args: list[str]) -> typer.Typer:
    """The app to build for ``args``: the root with only the group or command they name.

    Typer builds a click command from every command's signature, about 0.3 s for the whole
    tree: a command builds its own group only. The whole tree when the root itself is asked
    (its help lists every group) or the name is none of them (the error suggests from all).
    """
    name = command_named(args)
    if name is None:
        return app
    groups = [g for g in app.registered_groups if g.name == name]
    commands = [
        c
        for c in app.registered_commands
        if c.callback is not None
        and (c.name or typer.main.get_command_name(c.callback.__name__)) == name
    ]
    if len(groups) + len(commands) != 1:
        return app
    pruned = copy.copy(app)  # the root's settings and callback (``--db``), one group under it
    pruned.registered_groups = groups
    pruned.registered_commands = commands
    return pruned


def main(argv: list[str] | None = None) -> None:
    """Run the command line; every failure becomes a one-line message and an exit code."""
    args = sys.argv[1:] if argv is None else list(argv)
    tree = accept_db_after_commands(typer.main.get_command(tree_for(args)))
    command = check_text_arguments(uniform_help(tree))
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
