"""Commands: sop list, sop show."""

from __future__ import annotations

from typing import Annotated

import typer

from cellbatch.cli.common import JsonOption, emit_json, table

sop_app = typer.Typer(help="Procedures (SOPs) as versioned data.", no_args_is_help=True)


@sop_app.command("list")
def sop_list(json_out: JsonOption = False) -> None:
    """List every SOP file with its version, status and content hash."""
    from cellbatch.services.sops import available_sops, sop_summary

    sops = available_sops()
    if json_out:
        emit_json([sop_summary(s) for s in sops])
        return
    table(
        [[s.id, s.version, s.status, s.kind, s.title, s.content_hash[:12]] for s in sops],
        ["SOP", "version", "status", "kind", "title", "hash"],
    )


@sop_app.command("show")
def sop_show(
    sop_id: Annotated[str, typer.Argument(help="SOP ID, e.g. SOP-EASC-EXP.")],
    version: Annotated[
        str | None, typer.Option("--version", help="Default: latest approved.")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Show one SOP: steps, parameters with units and ranges, QC specifications."""
    from cellbatch.services.sops import describe_sop

    data = describe_sop(sop_id, version)
    if json_out:
        emit_json(data)
        return
    typer.echo(f"{data['id']} v{data['version']} ({data['status']}): {data['title']}")
    typer.echo(f"hash {data['content_hash']}")
    for step in data["steps"]:
        typer.echo(f"  step {step['id']} ({step['kind']}): {step['title']}")
        for p in step["parameters"]:
            rng = p.get("range") or ""
            crit = " [second person]" if p.get("critical") else ""
            typer.echo(f"    {p['label']}: {p['unit']} {rng}{crit}")
    for qc in data["qc"]:
        typer.echo(f"  QC {qc['id']} ({qc['stage']}): {qc['name']}: {qc['spec']}")


def register(app: typer.Typer) -> None:
    """Add these commands to the root app."""
    app.add_typer(sop_app, name="sop")
