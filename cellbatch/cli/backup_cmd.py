"""Commands: backup, restore (GMP-33; docs/backup-and-archive.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cellbatch.cli.common import STATE, PasswordStdin, database, login, read_secret
from cellbatch.domain.errors import InvalidInput


def backup(
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", metavar="FILE", help="The backup file to write (a new file)."
        ),
    ],
    user: Annotated[
        str | None,
        typer.Option(
            "--user", "-u", metavar="USER-ID", help="An admin's user ID; the password is asked for."
        ),
    ] = None,
    unattended: Annotated[
        bool,
        typer.Option(
            "--unattended",
            help="No log-in: the nightly job of the service account that owns the database.",
        ),
    ] = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Write a consistent copy of the whole database, online, with its manifest (recorded).

    One file: a tar archive of manifest.json (schema, audit head, SHA-256 of each part), the
    database (SQLite's online backup, or pg_dump) and SHA256SUMS. Never replaces a file.
    """
    from cellbatch.services.commands.backup import make_backup
    from cellbatch.services.output_files import OutputFile

    if (user is None) == (not unattended):
        raise InvalidInput(
            "--user",
            "expected an admin's user ID (--user ADMIN), or --unattended for the nightly job",
        )
    db = database()
    out = OutputFile(output, protected=db.files())
    actor = login(db, user, password_stdin) if user is not None else None
    made = make_backup(db, actor, out)
    m = made.manifest
    typer.echo(
        f"backup of {m.source} written to {made.path} ({made.bytes} bytes, "
        f"SHA-256 {made.sha256}); audit trail up to #{m.audit_entries}, schema {m.schema_revision}"
    )


def restore(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="A backup file made by cellbatch backup.")
    ],
    user: Annotated[
        str,
        typer.Option(
            "--user",
            "-u",
            metavar="USER-ID",
            help="An admin of the backed-up database; the password is asked for.",
        ),
    ],
    password_stdin: PasswordStdin = False,
) -> None:
    """Restore a backup into an empty database (--db) and verify its audit trail.

    Refuses a damaged or mismatched backup, naming what is wrong, and any target that is not
    empty (an SQLite file that exists, a PostgreSQL database with tables). Says done only after
    the admin logged in to the restored records, the restore is recorded and audit verify passed.
    """
    from cellbatch.services.commands.backup import restore_backup
    from cellbatch.settings import default_database_url

    password = read_secret(f"Password for {user}", from_stdin=password_stdin)
    done = restore_backup(STATE.db_url or default_database_url(), file, user, password)
    m = done.manifest
    typer.echo(
        f"restored {file} (made {m.made_at} by {m.made_by} from {m.source}) into {done.target}"
    )
    typer.echo(
        f"audit trail intact: {done.report.entries_checked} entries, "
        f"{done.report.rows_checked} records checked, "
        f"{done.report.anchors_checked} anchors of the backup held"
    )
    if done.anchor_log_installed is not None:
        typer.echo(f"the backup's anchor log was put in place: {done.anchor_log_installed}")
    if done.lost:
        first, last = done.lost[0], done.lost[-1]
        typer.echo(
            f"warning: the site's anchor log names entries #{first.seq}–#{last.seq}, written "
            f"after this backup was made (last anchor {last.shown}, {last.kind}): they are not "
            "in the restored records, which are lost since the backup. Record a deviation; "
            "`audit verify` will name those anchors until then",
            err=True,
        )


def nightly(
    backup_dir: Annotated[
        Path,
        typer.Option("--backup-dir", metavar="DIR", help="Folder for the night's backup file."),
    ],
    status: Annotated[
        Path | None,
        typer.Option(
            "--status",
            metavar="FILE",
            help="Where the result goes for the QA home screen. "
            "Default: $CELLBATCH_NIGHTLY_STATUS.",
        ),
    ] = None,
) -> None:
    """The nightly job: audit verify, then an unattended backup; the result for QA's home.

    Run by the service account's timer (docs/deployment.md). Exit 1 when either part failed.
    """
    from cellbatch.services.commands.nightly import run_nightly
    from cellbatch.settings import nightly_status_file

    status = status or nightly_status_file()
    if status is None:
        raise InvalidInput("--status", "expected the status file (or CELLBATCH_NIGHTLY_STATUS)")
    if not backup_dir.is_dir():
        raise InvalidInput("--backup-dir", f"{backup_dir} is not a folder")
    result = run_nightly(STATE.db_url, backup_dir, status)
    typer.echo(result.audit_message)
    typer.echo(result.backup_message + (f": {result.backup_file}" if result.backup_file else ""))
    if not result.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the backup commands to the root command."""
    app.command("backup")(backup)
    app.command("restore")(restore)
    app.command("nightly")(nightly)
