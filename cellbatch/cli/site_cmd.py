"""Commands: site approve, site show, site history (label site settings under change control)."""

from __future__ import annotations

from pathlib import Path
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

site_app = typer.Typer(
    help="Label site settings: FIN, products, label statements (approved by QA).",
    no_args_is_help=True,
)


@site_app.command("approve")
def site_approve(
    user: UserOption,
    file: Annotated[
        Path | None,
        typer.Argument(metavar="FILE", help="Settings file. Default: labels/site.toml."),
    ] = None,
    reason: Annotated[
        str, typer.Option("--reason", metavar="TEXT", help="What changed, and why.")
    ] = "",
    password_stdin: PasswordStdin = False,
) -> None:
    """Approve a site settings file as the next version: QA's electronic signature.

    From then on, DINs, product codes and labels are made from the approved copy.
    """
    from cellbatch.services.commands.site_settings import approve_site_settings

    password = read_secret(f"Password for {user} (electronic signature)", from_stdin=password_stdin)
    done = approve_site_settings(database(), user, password, file, reason=reason)
    typer.echo(f"{done.describe()} in force · from {done.source}")


def _show(view) -> None:
    site = view.settings
    typer.echo(view.describe())
    typer.echo(f"  reason: {view.reason}")
    typer.echo(f"  facility: {site.facility_name}, FIN {site.fin} ({site.timezone})")
    if site.example:
        typer.echo("  EXAMPLE settings: every label says so")
    typer.echo(f"  statement set: {site.statement_set or '—'}")
    for statement in site.statements:
        typer.echo(f"    {statement}")
    for key, product in sorted(site.products.items()):
        typer.echo(f"  product {key}: {product.description_code}{product.collection_type}")


@site_app.command("show")
def site_show(
    user: UserOption, json_out: JsonOption = False, password_stdin: PasswordStdin = False
):
    """Show the site settings in force: version, QA approval, content hash, what they say."""
    from cellbatch.services.queries.site_settings import current_site_settings

    view = shown(user, password_stdin, json_out, current_site_settings, lambda v: v.to_dict())
    if view is not None:
        _show(view)


@site_app.command("history")
def site_history(
    user: UserOption, json_out: JsonOption = False, password_stdin: PasswordStdin = False
) -> None:
    """Every approved version of the site settings, oldest first."""
    from cellbatch.services.queries.site_settings import site_settings_history

    views = shown(
        user, password_stdin, json_out, site_settings_history, lambda vs: [v.to_dict() for v in vs]
    )
    if views is None:
        return
    table(
        [
            [f"v{v.version}", v.approved_at, v.approved_by, v.content_hash[:12], v.reason]
            for v in views
        ],
        ["version", "approved (UTC)", "approved by", "hash", "reason"],
    )


def register(app: typer.Typer) -> None:
    """Add the site settings commands to the root command."""
    app.add_typer(site_app, name="site")
