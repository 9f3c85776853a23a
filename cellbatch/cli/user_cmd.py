"""Commands: init, user add/list/deactivate/activate/unlock, passwd."""

from __future__ import annotations

from typing import Annotated

import typer

from cellbatch.cli.common import (
    JsonOption,
    PasswordStdin,
    UserOption,
    database,
    login,
    read_secret,
    shown,
    table,
)
from cellbatch.cli.values import Words
from cellbatch.domain.errors import InvalidInput
from cellbatch.domain.users import ROLE_NAMES

user_app = typer.Typer(help="User accounts (admin).", no_args_is_help=True)

UserIdArgument = Annotated[str, typer.Argument(metavar="USER-ID", help="The account's user ID.")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")]


def init(
    admin: Annotated[
        str | None,
        typer.Option(
            "--admin", metavar="USER-ID", help="Create the first admin with this user ID."
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name", metavar="NAME", help="The first admin's printed full name (with --admin)."
        ),
    ] = None,
    password_stdin: PasswordStdin = False,
    owner_db: Annotated[
        str | None,
        typer.Option(
            "--owner-db",
            metavar="URL",
            help="PostgreSQL: migrate as this owner role; --db's role gets only the "
            "application's rights (docs/trust-model.md).",
        ),
    ] = None,
) -> None:
    """Create or upgrade the database; with --admin and --name, create the first admin.

    Everything is checked before anything is changed: the user ID, the name, the database
    (that it has no users yet) and the password, asked twice, against the password rules.
    """
    from cellbatch.domain.password_rules import check_new_password
    from cellbatch.domain.security_policy import DEFAULT_POLICY
    from cellbatch.domain.users import printed_name, user_id
    from cellbatch.services.commands.users import create_first_admin, refuse_first_admin
    from cellbatch.services.database import init_database

    if admin is None:
        if name is not None:
            raise InvalidInput("--name", "is the first admin's name: give it with --admin USER-ID")
        db, done = init_database(_db_url(), owner_url=owner_db)
        typer.echo(f"database {db.display_url}: schema {done}")
        _tell_key(db)
        return
    admin = user_id(admin, "--admin")
    if name is None or not name.strip():
        raise InvalidInput(
            "--name", "expected the first admin's printed full name, as signatures show it"
        )
    full_name = printed_name(name, "--name")
    refuse_first_admin(_db_url())
    password = read_secret(f"Password for {admin}", from_stdin=password_stdin)
    check_new_password(password, DEFAULT_POLICY, username=admin)  # a new database's policy
    if not password_stdin:
        again = read_secret("Repeat the password", from_stdin=False)
        if again != password:
            raise InvalidInput("password", "the two passwords differ; nothing was created")
    db, done = init_database(_db_url(), owner_url=owner_db)
    typer.echo(f"database {db.display_url}: schema {done}")
    _tell_key(db)
    view = create_first_admin(db, admin, full_name, password)
    typer.echo(f"created admin {view.username} ({view.full_name})")


def _tell_key(db) -> None:
    """Say where the site key is, and when it was just made, that it must be kept safe."""
    key = db.site_key()
    if db.key_created:
        typer.echo(
            f"site key made: {key.path} (fingerprint {key.short}); keep a copy in a safe "
            "place: without it the audit trail can be neither written nor verified"
        )
    else:
        typer.echo(f"site key: {key.path} (fingerprint {key.short})")
    typer.echo(f"anchor log: {db.anchor_log}")


def _db_url() -> str | None:
    from cellbatch.cli.common import STATE

    return STATE.db_url


@user_app.command("add")
def user_add(
    username: Annotated[
        str,
        typer.Argument(metavar="USER-ID", help="The new user ID (unique, never reused)."),
    ],
    name: Annotated[str, typer.Option("--name", metavar="NAME", help="Printed full name.")],
    role: Annotated[str, Words(*ROLE_NAMES, name="--role", help="The user's role.")],
    user: UserOption,
    password_stdin: PasswordStdin = False,
) -> None:
    """Add a user with a one-time password, shown once."""
    from cellbatch.domain import users
    from cellbatch.services.commands.users import add_user

    users.user_id(username, "USER-ID")
    users.printed_name(name, "--name")
    users.role(role, "--role")
    db = database()
    actor = login(db, user, password_stdin)
    view, initial = add_user(db, actor, username, name, role)
    typer.echo(f"added {view.username} ({view.full_name}, {view.role})")
    typer.echo(f"one-time password (shown once, must be changed at first use): {initial}")


@user_app.command("list")
def user_list(
    user: UserOption, json_out: JsonOption = False, password_stdin: PasswordStdin = False
) -> None:
    """List every account, active or not."""
    from cellbatch.services.queries.users import list_users

    users = shown(
        user, password_stdin, json_out, list_users, lambda users: [u.to_dict() for u in users]
    )
    if users is None:
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
    username: UserIdArgument,
    reason: ReasonOption,
    user: UserOption,
    password_stdin: PasswordStdin = False,
) -> None:
    """Deactivate an account (it can no longer log in or sign; it is never deleted)."""
    from cellbatch.services.commands.users import set_active

    db = database()
    actor = login(db, user, password_stdin)
    set_active(db, actor, username, False, reason)
    typer.echo(f"deactivated {username}")


@user_app.command("activate")
def user_activate(
    username: UserIdArgument,
    reason: ReasonOption,
    user: UserOption,
    password_stdin: PasswordStdin = False,
) -> None:
    """Reactivate a deactivated account."""
    from cellbatch.services.commands.users import set_active

    db = database()
    actor = login(db, user, password_stdin)
    set_active(db, actor, username, True, reason)
    typer.echo(f"reactivated {username}")


@user_app.command("unlock")
def user_unlock(
    username: UserIdArgument,
    reason: ReasonOption,
    user: UserOption,
    password_stdin: PasswordStdin = False,
) -> None:
    """Unlock an account locked by failed log-ins."""
    from cellbatch.services.commands.users import unlock

    db = database()
    actor = login(db, user, password_stdin)
    unlock(db, actor, username, reason)
    typer.echo(f"unlocked {username}")


PasswdStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the current password, then the new one, from standard input (two lines).",
    ),
]


def passwd(user: UserOption, password_stdin: PasswdStdin = False) -> None:
    """Change your own password (also the way to replace a one-time password)."""
    from cellbatch.services.commands.users import change_password

    db = database()
    old = read_secret("Current password", from_stdin=password_stdin)
    new = read_secret(
        "New password",
        from_stdin=password_stdin,
        field="new password",
        expected="two lines (the current password, then the new one)",
    )
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
