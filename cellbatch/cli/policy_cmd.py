"""Commands: policy show, policy history, policy set (the security policy, admin-signed)."""

from __future__ import annotations

from typing import Annotated

import typer

from cellbatch.cli.common import (
    JsonOption,
    PasswordStdin,
    UserOption,
    database,
    read_secret,
    shown,
    table,
)

policy_app = typer.Typer(
    help="The security policy: lockout, passwords, hash cost, idle lock (admin, signed).",
    no_args_is_help=True,
)


LockoutOption = Annotated[
    int | None,
    typer.Option(
        "--max-failed-attempts", help="Failed log-ins in a row that lock an account (1-10)."
    ),
]
MinLengthOption = Annotated[
    int | None,
    typer.Option("--min-password-length", help="Shortest new password (12-128 characters)."),
]
MaxAgeOption = Annotated[
    int | None,
    typer.Option(
        "--password-max-age-days",
        help="Days before a password must be changed (0: never; at most 365).",
    ),
]
CostOption = Annotated[
    int | None,
    typer.Option(
        "--scrypt-n", help="scrypt cost of new password hashes (a power of two, 2^17 to 2^20)."
    ),
]
IdleOption = Annotated[
    int | None,
    typer.Option(
        "--idle-lock-seconds", help="Idle time before the terminal UI locks (60-900 seconds)."
    ),
]


@policy_app.command("show")
def policy_show(
    user: UserOption, password_stdin: PasswordStdin = False, json_out: JsonOption = False
) -> None:
    """Show the policy in force and the version that set it (log-in needed)."""
    from cellbatch.services.queries.security_policy import policy_shown

    shown_policy = shown(user, password_stdin, json_out, policy_shown, lambda p: p.to_dict())
    if shown_policy is None:
        return
    for number, why in shown_policy.refused:
        typer.echo(
            f"WARNING: security policy version {number} is NOT in force: {why}. "
            "`cellbatch audit verify` names the record; tell QA",
            err=True,
        )
    latest = shown_policy.version
    if latest is None:
        typer.echo("security policy: the program's default (no signed version holds)")
    else:
        typer.echo(
            f"security policy version {latest.version}, signed by {latest.signed_by}"
            f"{f' ({latest.username})' if latest.username else ''} at {latest.signed_at}"
        )
    for name, value in shown_policy.policy.to_dict().items():
        typer.echo(f"  {name.replace('_', ' ')}: {value}")
    if latest is not None:
        typer.echo(f"  reason: {latest.reason}")


@policy_app.command("history")
def policy_history_cmd(
    user: UserOption, password_stdin: PasswordStdin = False, json_out: JsonOption = False
) -> None:
    """Every version of the policy, oldest first, with who signed it and why."""
    from cellbatch.services.queries.security_policy import policy_history

    versions = shown(
        user, password_stdin, json_out, policy_history, lambda vs: [v.to_dict() for v in vs]
    )
    if versions is None:
        return
    table(
        [
            [
                str(v.version),
                str(v.policy.max_failed_attempts),
                str(v.policy.min_password_length),
                str(v.policy.password_max_age_days),
                str(v.policy.scrypt_n),
                str(v.policy.idle_lock_seconds),
                f"{v.signed_by} {v.signed_at}",
                v.reason,
            ]
            for v in versions
        ],
        ["version", "lockout", "min length", "max age", "scrypt N", "idle s", "signed", "reason"],
    )


@policy_app.command("set")
def policy_set(
    user: UserOption,
    reason: Annotated[str, typer.Option("--reason", help="Why the policy changes (audited).")],
    max_failed_attempts: LockoutOption = None,
    min_password_length: MinLengthOption = None,
    password_max_age_days: MaxAgeOption = None,
    scrypt_n: CostOption = None,
    idle_lock_seconds: IdleOption = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Put a new policy version in force: an admin's electronic signature (asks the password)."""
    from cellbatch.services.commands.security_policy import change_policy

    password = read_secret(f"Password for {user} (electronic signature)", from_stdin=password_stdin)
    view = change_policy(
        database(),
        user,
        password,
        reason=reason,
        max_failed_attempts=max_failed_attempts,
        min_password_length=min_password_length,
        password_max_age_days=password_max_age_days,
        scrypt_n=scrypt_n,
        idle_lock_seconds=idle_lock_seconds,
    )
    typer.echo(
        f"security policy version {view.version} in force, signed by {view.signed_by} "
        f"({view.username}) at {view.signed_at}"
    )


def register(app: typer.Typer) -> None:
    """Add these commands to the root app."""
    app.add_typer(policy_app, name="policy")
