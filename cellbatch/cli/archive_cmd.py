"""Commands: archive BATCH -o DIR, archive verify DIR (GMP-33; docs/backup-and-archive.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cellbatch.cli.common import PasswordStdin, UserOption, database, login

if TYPE_CHECKING:
    from cellbatch.services.database import Database


class _ArchiveGroup(typer.core.TyperGroup):
    """``archive BATCH -o DIR`` and ``archive verify DIR`` under one name."""

    def resolve_command(self, ctx, args):  # noqa: D102
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["make", *args]
        return super().resolve_command(ctx, args)


archive_app = typer.Typer(
    cls=_ArchiveGroup,
    help="The 30-year archive of a batch: make it (archive BATCH -o DIR), check it "
    "(archive verify DIR).",
    no_args_is_help=True,
)


@archive_app.command("make", hidden=True)
def archive_make(
    batch: Annotated[str, typer.Argument(help="Batch code (bank or dose).")],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", metavar="DIR", help="A new folder for the archive."),
    ],
    user: UserOption,
    password_stdin: PasswordStdin = False,
) -> None:
    """Write everything an inspector needs, readable and checkable without cellbatch.

    The batch record (PDF and JSON), the batch's audit entries with the chain to the trail's
    head, the SOP versions, the labels as printed, a README and SHA-256 of every file. QA or
    admin; recorded in the audit trail.
    """
    from cellbatch.documents.archive_files import archive_files
    from cellbatch.services.commands.archive import check_target, make_archive

    check_target(output)
    db = database()
    actor = login(db, user, password_stdin)
    made = make_archive(db, actor, batch, output, archive_files)
    typer.echo(
        f"archive of {batch.upper()} written to {made.folder} ({made.files} files; "
        f"SHA-256 of SHA256SUMS {made.sums_sha256})"
    )
    if not made.labels_matching:
        typer.echo(
            "note: a rebuilt label's content differs from what was recorded at printing; "
            "labels/labels.json says which",
            err=True,
        )


@archive_app.command("verify")
def archive_verify(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="An archive folder.")],
    key: Annotated[
        Path | None,
        typer.Option(
            "--key",
            metavar="FILE",
            help="The site key, to check every entry's seal (default: the configured key).",
        ),
    ] = None,
    hashes_only: Annotated[
        bool,
        typer.Option(
            "--hashes-only",
            help="Without the site key: check the plain hashes only (proves nothing).",
        ),
    ] = False,
) -> None:
    """Check an archive: every file's SHA-256, nothing added, the audit entries and chain.

    No log-in: it shows no record, only whether the archive is intact (the same checks as
    the verify_archive.py inside it). The seals are checked with the site key; without it
    the archive is not proved (exit 3), unless --hashes-only asks for that check alone.
    """
    from cellbatch.domain.errors import InvalidInput
    from cellbatch.services.archive_verify import NOT_PROVED, check, read_key
    from cellbatch.settings import key_file_path

    if not folder.is_dir():
        raise InvalidInput("DIR", f"{folder} is not a folder; expected an archive folder")
    secret = None
    path = key or key_file_path()
    if key is not None or path.is_file():
        try:
            secret = read_key(path)
        except (OSError, ValueError) as exc:
            raise InvalidInput("--key", f"expected a cellbatch site key file ({exc})") from None
    problems = check(folder, secret)
    if problems:
        for problem in problems:
            typer.echo(f"ARCHIVE NOT INTACT: {problem}", err=True)
        raise typer.Exit(1)
    if secret is None:
        if hashes_only:
            typer.echo(f"{NOT_PROVED}: {folder} (--hashes-only: the hash-only check passed)")
            return
        typer.echo(f"{NOT_PROVED}: {folder}", err=True)
        typer.echo(
            f"no site key at {path}: give it (--key FILE, CELLBATCH_KEY_FILE) to prove the "
            "archive, or --hashes-only for the plain hash check alone",
            err=True,
        )
        raise typer.Exit(3)
    typer.echo(f"archive intact: {folder}")


def archive_after_release(db: Database, username: str, batch: str) -> None:
    """Archive a batch just released, when an archive folder is configured; never fails it."""
    from cellbatch.documents.archive_files import archive_files
    from cellbatch.services.commands.archive import archive_released

    outcome = archive_released(db, username, batch, archive_files)
    if outcome is None:
        return
    if outcome.made is not None:
        typer.echo(f"archived to {outcome.made.folder}")
        return
    typer.echo(
        f"warning: {batch.upper()} IS RELEASED, but its archive was not made: {outcome.problem}. "
        f"Make it now: {outcome.retry}",
        err=True,
    )


def register(app: typer.Typer) -> None:
    """Add the archive commands to the root command."""
    app.add_typer(archive_app, name="archive")
