"""Commands: sop list, sop show, sop submit (the author's signature), sop approve (QA's)."""

from __future__ import annotations

from typing import Annotated

import typer

from cellbatch.cli.common import (
    JsonOption,
    PasswordStdin,
    UserOption,
    database,
    emit_json,
    read_secret,
    reader,
    table,
)

sop_app = typer.Typer(help="Procedures (SOPs) as versioned data.", no_args_is_help=True)


@sop_app.command("list")
def sop_list(
    user: UserOption, json_out: JsonOption = False, password_stdin: PasswordStdin = False
) -> None:
    """List every SOP file: its version and status (as the file says), hash, author and approval.

    The file's status is what its author wrote in it; only the signatures in cellbatch (the
    author's and QA's approval) make a version usable.

    A file that cannot be used is listed after the others, with what is wrong with it.
    """
    from dataclasses import asdict

    from cellbatch.services.queries.sops import approvals, authorships, sop_folder, sop_summary

    db, _actor = reader(user, password_stdin)
    folder = sop_folder()
    sops = folder.sops
    approved = approvals(db)
    authored = authorships(db)

    def approval(s, signed=approved):
        found = signed.get((s.id, s.version))
        return found if found is not None and found.content_hash == s.content_hash else None

    def author(s):
        return approval(s, authored)

    if json_out:
        emit_json(
            {
                "sops": [
                    {
                        **sop_summary(s),
                        "author_in_cellbatch": asdict(w) if (w := author(s)) else None,
                        "approval": asdict(a) if (a := approval(s)) else None,
                    }
                    for s in sops
                ],
                "files_not_loaded": [
                    {"file": p.path, "field": p.field, "problem": p.message}
                    for p in folder.problems
                ],
            }
        )
        return
    table(
        [
            [
                s.id,
                s.version,
                s.status,
                s.kind,
                s.title,
                s.content_hash[:12],
                f"{w.full_name} ({w.username})" if (w := author(s)) else "—",
                f"{a.full_name} ({a.username}) {a.signed_at}" if (a := approval(s)) else "—",
            ]
            for s in sops
        ],
        [
            "SOP",
            "version",
            "file status",
            "kind",
            "title",
            "hash",
            "author in cellbatch",
            "approved in cellbatch",
        ],
    )
    if folder.problems:
        typer.echo(
            "\nFiles not loaded (each is unusable until fixed; the others are not affected):"
        )
        for problem in folder.problems:
            typer.echo(f"  {problem}")


SopIdArgument = Annotated[str, typer.Argument(help="SOP ID, e.g. SOP-EASC-EXP.")]
VersionOption = Annotated[
    str | None, typer.Option("--version", help="Default: latest approved in the file.")
]


def _sign(service, user: str, sop_id: str, version: str | None, password_stdin: bool, done: str):
    """Run ``service`` (submit or approve) with the user's signature; print what was signed."""
    password = read_secret(f"Password for {user} (electronic signature)", from_stdin=password_stdin)
    view = service(database(), user, password, sop_id, version)
    typer.echo(
        f"{view.sop_id} v{view.version} {done} by {view.full_name} ({view.username}) at "
        f"{view.signed_at} · hash {view.content_hash[:12]}"
    )


@sop_app.command("submit")
def sop_submit(
    sop_id: SopIdArgument,
    user: UserOption,
    version: VersionOption = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Sign an SOP version as its author; another person from QA approves it (asks the password)."""
    from cellbatch.services.commands.sops import submit_sop

    _sign(submit_sop, user, sop_id, version, password_stdin, "submitted for approval")


@sop_app.command("approve")
def sop_approve(
    sop_id: SopIdArgument,
    user: UserOption,
    version: VersionOption = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Approve an SOP version for new batches: QA's electronic signature (asks the password)."""
    from cellbatch.services.commands.sops import approve_sop

    _sign(approve_sop, user, sop_id, version, password_stdin, "approved")


@sop_app.command("show")
def sop_show(
    sop_id: Annotated[str, typer.Argument(help="SOP ID, e.g. SOP-EASC-EXP.")],
    version: Annotated[
        str | None, typer.Option("--version", help="Default: latest approved.")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Show one SOP: steps, parameters with units and ranges, QC specifications."""
    from cellbatch.services.queries.sops import describe_sop

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
