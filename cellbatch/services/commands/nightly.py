"""The nightly job: audit verify, then a backup, and its result for the QA home screen.

Run unattended by the service account (systemd timer, docs/deployment.md). Each part runs
whatever the other gave (a backup of a trail that fails verification is still evidence);
the result goes to the status file (written whole, replacing last night's) and the job
fails (exit 1) when either part did, so the timer's unit shows failed too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cellbatch.domain.errors import CellbatchError
from cellbatch.domain.nightly import NightlyResult
from cellbatch.services.commands.backup import make_backup
from cellbatch.services.database import open_database
from cellbatch.services.output_files import OutputFile, write_output
from cellbatch.services.queries.audit import verify_trail


def _verify(url: str | None) -> tuple[bool, str]:
    try:
        db = open_database(url, read_only=True)
    except CellbatchError as exc:
        return False, f"audit verify could not open the database: {exc}"
    try:
        report = verify_trail(db)
    except CellbatchError as exc:
        return False, f"audit verify failed: {exc}"
    finally:
        db.dispose()
    if report.ok:
        return True, f"audit trail intact: {report.entries_checked} entries"
    return False, f"AUDIT TRAIL BROKEN: {report.problems[0]}"


def _backup(url: str | None, folder: Path, stamp: str) -> tuple[bool, str, str | None]:
    try:
        db = open_database(url)
    except CellbatchError as exc:
        return False, f"backup could not open the database: {exc}", None
    target = folder / f"cellbatch-{stamp}.cbk"
    n = 1
    while target.exists():  # a second run within the same second
        n += 1
        target = folder / f"cellbatch-{stamp}-{n}.cbk"
    try:
        made = make_backup(db, None, OutputFile(target, field="--backup-dir"))
    except CellbatchError as exc:
        return False, f"BACKUP FAILED: {exc}", None
    except OSError as exc:
        return False, f"BACKUP FAILED: {exc.strerror or exc}", None
    finally:
        db.dispose()
    return True, f"backup made ({made.bytes} bytes)", str(made.path)


def _records(url: str | None) -> tuple[Path, ...]:
    """The files the records live in: the status never goes over one of them."""
    try:
        db = open_database(url, read_only=True)
    except CellbatchError:
        return ()
    try:
        return db.files()
    finally:
        db.dispose()


def run_nightly(url: str | None, backup_dir: Path, status_file: Path) -> NightlyResult:
    """Verify the trail, back up into ``backup_dir``, record the result in ``status_file``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    audit_ok, audit_message = _verify(url)
    backup_ok, backup_message, backup_file = _backup(url, Path(backup_dir), stamp)
    result = NightlyResult(
        at=datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        audit_ok=audit_ok,
        audit_message=audit_message,
        backup_ok=backup_ok,
        backup_message=backup_message,
        backup_file=backup_file,
    )
    write_output(
        status_file, result.to_json(), force=True, protected=_records(url), field="--status"
    )
    return result
