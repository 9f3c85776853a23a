"""What every command shares: the database option, passwords, output.

Heavy modules (services, the database, pint) are imported inside the functions that
need them, so ``cellbatch --help`` stays fast.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from cellbatch.cli.terminal import json_text
from cellbatch.cli.values import DateTime
from cellbatch.domain.errors import InvalidInput

if TYPE_CHECKING:
    from cellbatch.domain.users import Actor
    from cellbatch.services.database import Database

T = TypeVar("T")

UserOption = Annotated[
    str,
    typer.Option(
        "--user", "-u", metavar="USER-ID", help="Your user ID; the password is asked for."
    ),
]
PasswordStdin = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from standard input (one line)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


class State:
    """Options given before the command."""

    db_url: str | None = None


STATE = State()


def database(*, read_only: bool = False) -> Database:
    """The existing database named by ``--db``, ``CELLBATCH_DATABASE_URL`` or the default.

    Commands that only show records open it ``read_only`` (an SQLite file read-only, so
    an archived copy on read-only media opens too). Nothing is ever created here: only
    ``cellbatch init`` (and the demo loader) create a database.
    """
    from cellbatch.services.database import open_database

    return open_database(STATE.db_url, read_only=read_only)


def reader(user: str, password_stdin: bool) -> tuple[Database, Actor]:
    """The database opened for reading, and the person logged in to read it.

    Every command that shows records asks who is reading (GMP-27).
    """
    db = database(read_only=True)
    return db, login(db, user, password_stdin)


def shown(
    user: str,
    password_stdin: bool,
    json_out: bool,
    read: Callable[[Database], T],
    as_json: Callable[[T], Any] = lambda data: data,
) -> T | None:
    """What ``read`` finds, for the person logged in: None once printed as JSON (``--json``)."""
    db, _actor = reader(user, password_stdin)
    data = read(db)
    if json_out:
        emit_json(as_json(data))
        return None
    return data


def not_recorded(recorded: bool) -> None:
    """Say on stderr when what was shown or written could not be recorded (read-only copy)."""
    if not recorded:
        from cellbatch.services.commands.disclosures import NOT_RECORDED

        typer.echo(f"note: {NOT_RECORDED}", err=True)


def read_secret(
    prompt: str, *, from_stdin: bool, field: str = "password", expected: str = "a password"
) -> str:
    """A password from standard input or a no-echo prompt; never echoed, never logged.

    ``expected`` says what the line on standard input should be, for the message when the
    line is missing.
    """
    if from_stdin:
        try:
            line = sys.stdin.readline()
        except UnicodeDecodeError:
            raise InvalidInput(
                field, "the text on standard input is not valid UTF-8; expected text in UTF-8"
            ) from None
        secret = line.rstrip("\r\n")
        if not secret:
            raise InvalidInput(field, f"expected {expected} on standard input, got nothing")
        return secret
    if not sys.stdin.isatty():
        raise InvalidInput(
            "--password-stdin",
            "no terminal to ask the password at: pass --password-stdin and send it on stdin",
        )
    secret = getpass.getpass(f"{prompt}: ")
    if not secret:
        raise InvalidInput(field, "expected a password, got nothing")
    return secret


def login(db: Database, user: str, password_stdin: bool) -> Actor:
    """Authenticate ``user`` with a password read as the options say."""
    from cellbatch.services.auth import authenticate

    password = read_secret(f"Password for {user}", from_stdin=password_stdin)
    return authenticate(db, user, password)


def emit_json(data: Any) -> None:
    """Print ``data`` as indented JSON."""
    typer.echo(json_text(data))


def table(rows: list[list[str]], headers: list[str]) -> None:
    """Print a plain-text table, columns padded to fit."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    typer.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    typer.echo("  ".join("-" * w for w in widths))
    for row in rows:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


AtOption = Annotated[
    str | None,
    DateTime(
        "--at",
        help="When the work was done: YYYY-MM-DD HH:MM in this terminal's local time (or with "
        "Z / +01:00); records show it in UTC. Default: now.",
    ),
]


def when(at: str | None, field: str = "--at"):
    """Parse an ``--at`` style option (None stays None: the server's now)."""
    if at is None:
        return None
    from cellbatch.domain.timeparse import parse_datetime

    return parse_datetime(at, field=field)
