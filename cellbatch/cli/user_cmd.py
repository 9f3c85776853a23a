"""Commands: init, user add/list/deactivate/activate/unlock, passwd."""

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
    read_secret,
    table,
)
from cellbatch.domain.errors import InvalidInput

user_app = typer.Typer(help="User accounts (admin).", no_args_is_help=True)

ReasonOption = Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")]


def init(
    admin: Annotated[
        str | None, typer.Option("--admin", metavar="NAME", help="Create the first admin.")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="The admin's printed full name.")
    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create or upgrade the database; with --admin, create the first admin."""
    from cellbatch.services.commands.users import create_first_admin
    from cellbatch.services.database import init_database
    from cellbatch.services.queries.users import user_count

    db, done = init_database(_db_url())
    typer.echo(f"database {db.display_url}: schema {done}")
    if admin is None:
        return
    if user_count(db):
        raise InvalidInput("--admin", "the database already has users: an admin adds new ones")
    password = read_secret(f"Password for {admin}", from_stdin=password_stdin)
    if not password_stdin:
        again = read_secret("Repeat the password", from_stdin=False)
        if again != password:
            raise InvalidInput("password", "the two passwords differ; nothing was created")
    view = create_first_admin(db, admin, name or admin, password)
    typer.echo(f"created admin {view.username}")


def _db_url() -> str | None:
    from cellbatch.cli.common import STATE

    return STATE.db_url


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="The new user ID (unique, never reused).")],
    name: Annotated[str, typer.Option("--name", help="Printed full name.")],
    role: Annotated[str, typer.Option("--role", help="technician, supervisor, qa or admin.")],
    user: UserOption,
    password_stdin: PasswordStdin = False,
) -> None:
    """Add a user with a one-time password, shown once."""
    from cellbatch.services.commands.users import add_user

    db = database()
    actor = login(db, user, password_stdin)
    view, initial = add_user(db, actor, username, name, role)
    typer.echo(f"added {view.username} ({view.full_name}, {view.role})")
    typer.echo(f"one-time password (shown once, must be changed at first use): {initial}")


@user_app.command("list")
def user_list(json_out: JsonOption = False) -> None:
    """List every account, active or not."""
    from cellbatch.services.queries.users import list_users

    users = list_users(database())
    if json_out:
        emit_json([u.to_dict() for u in users])
        return
    table(
        [
            [
                u.username,
                u.full_name,
                u.role,
                "active" if u.active else "deactivated",
                "LOCKED" if u.locked else "",
                "one-time password" if u.must_change_password else "",
            ]
            for u in users
        ],
        ["user", "name", "role", "status", "lock", "note"],
    )


@user_app.command("deactivate")
def user_deactivate(
    username: str, reason: ReasonOption, user: UserOption, password_stdin: PasswordStdin = False
) -> None:
    """Deactivate an account (it can no longer log in or sign; it is never deleted)."""
    from cellbatch.services.commands.users import set_active

    db = database()
    actor = login(db, user, password_stdin)
    set_active(db, actor, username, False, reason)
    typer.echo(f"deactivated {username}")


@user_app.command("activate")
def user_activate(
    username: str, reason: ReasonOption, user: UserOption, password_stdin: PasswordStdin = False
) -> None:
    """Reactivate a deactivated account."""
    from cellbatch.services.commands.users import set_active

    db = database()
    actor = login(db, user, password_stdin)
    set_active(db, actor, username, True, reason)
    typer.echo(f"reactivated {username}")


@user_app.command("unlock")
def user_unlock(
    username: str, reason: ReasonOption, user: UserOption, password_stdin: PasswordStdin = False
) -> None:
    """Unlock an account locked by failed log-ins."""
    from cellbatch.services.commands.users import unlock

    db = database()
    actor = login(db, user, password_stdin)
    unlock(db, actor, username, reason)
    typer.echo(f"unlocked {username}")


def passwd(user: UserOption, password_stdin: PasswordStdin = False) -> None:
    """Change your own password (stdin: old password line, then new password line)."""
    from cellbatch.services.commands.users import change_password

    db = database()
    old = read_secret("Current password", from_stdin=password_stdin)
    new = read_secret("New password", from_stdin=password_stdin, field="new password")
    if not password_stdin:
        again = read_secret("Repeat the new password", from_stdin=False, field="new password")
        if again != new:
            raise InvalidInput("new password", "the two entries differ; nothing was changed")
    change_password(db, user, old, new)
    typer.echo(f"password of {user} changed")


def register(app: typer.Typer) -> None:
    """Add these commands to the root app."""
    app.command("init")(init)
    app.command("passwd")(passwd)
    app.add_typer(user_app, name="user")
