"""Backup and restore of the whole database (GMP-33).

A backup is an online, consistent copy (SQLite's backup API, ``pg_dump`` in an exported
snapshot) packed with its manifest into one file (:mod:`cellbatch.services.backup_file`).
Making one is recorded in the audit trail (who, which file, its SHA-256, the trail it
covers) before the file takes its name. An admin makes it after logging in; the nightly job
makes it unattended as the service account that owns the database (recorded as the system,
with that account's name): whoever can read the database file can copy it anyway.

A restore refuses a damaged or mismatched file, writes only into an empty target, and
before saying done: checks the restored database is what the manifest says, logs the admin
in against it, records the restore in its trail and runs ``audit verify``. An SQLite
target takes its name only after all that; a PostgreSQL target that fails is emptied again.
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import shutil
import sqlite3
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

import cellbatch
from cellbatch.db.audit_chain_anchors import Anchor, read_anchors
from cellbatch.db.audit_chain_key import SiteKeyProblem, load_key
from cellbatch.db.backup import CopyState, pg_clear, pg_dump, pg_restore, sqlite_copy
from cellbatch.db.database import Database
from cellbatch.db.engine import normalise_url, sqlite_file
from cellbatch.db.schema_head import SCHEMA_HEAD
from cellbatch.db.tables import AuditEntry, AuditHead
from cellbatch.domain.backup_manifest import (
    DATABASE_PART,
    BackupManifest,
    BackupPart,
    BackupRefused,
)
from cellbatch.domain.errors import InvalidInput, PermissionDenied
from cellbatch.domain.users import Actor, Role
from cellbatch.services.auth import authenticate
from cellbatch.services.backup_file import OpenedBackup, file_sha256, read_backup, write_backup
from cellbatch.services.output_files import OutputFile, write_output
from cellbatch.services.queries.audit import VerifyReport, verify_trail
from cellbatch.services.unit_of_work import UnitOfWork
from cellbatch.settings import anchor_log_path, default_data_dir, key_file_path

ANCHORS_PART = "anchors.log"
"""The anchor log as it stood when the backup was made (lines of every chain it serves)."""

PART_WHAT = {
    "sqlite": "the SQLite database file, copied with SQLite's online backup API",
    "postgresql": "pg_dump of the database (custom format; restore with pg_restore)",
}

NOTES = (
    "Restore with `cellbatch restore FILE --db URL --user USER-ID` into an empty database: it "
    "checks this manifest and every part, then runs `audit verify` before saying done.",
    "Check by hand: `tar xf FILE && sha256sum -c SHA256SUMS`.",
)


@dataclass(frozen=True)
class BackupMade:
    """A backup written: where, its SHA-256 and size, and the trail it holds."""

    path: Path
    sha256: str
    bytes: int
    manifest: BackupManifest


@dataclass(frozen=True)
class RestoreDone:
    """A restore finished and verified."""

    target: str
    manifest: BackupManifest
    report: VerifyReport
    lost: list[Anchor]
    """Anchors of the site's log after the backup's head: entries the restore does not hold."""
    anchor_log_installed: Path | None = None
    """The anchor log the restore put in place (none was there), if it did."""


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _unattended_by() -> str:
    return f"system (OS account {getpass.getuser()}, unattended)"


def check_unattended(db: Database) -> None:
    """Refuse an unattended backup by any OS account but the one that owns the SQLite file.

    On PostgreSQL the server's credentials decide who may read the database at all.
    """
    files = db.files()
    if files and files[0].stat().st_uid != os.geteuid():
        raise PermissionDenied(
            f"an unattended backup is made by the account that owns {files[0]} only "
            "(the service account); anyone else logs in: --user ADMIN"
        )


def make_backup(db: Database, actor: Actor | None, out: OutputFile) -> BackupMade:
    """Copy ``db`` into the backup file ``out``; ``actor`` None is the unattended job.

    The copy's working files stay in a private folder beside the backup and go when done.
    """
    if actor is not None:
        actor.require(Role.ADMIN, action="make a backup")
    else:
        check_unattended(db)
    part_name = DATABASE_PART[db.backend]
    key = db.site_key()
    with tempfile.TemporaryDirectory(prefix=".cellbatch-backup-", dir=out.folder) as work:
        # the anchor log before the copy: every anchor in it names an entry the copy holds
        anchors = _copy_anchor_log(db.anchor_log, Path(work) / ANCHORS_PART)
        copy = Path(work) / part_name
        state: CopyState = sqlite_copy(db, copy) if db.backend == "sqlite" else pg_dump(db, copy)
        part = BackupPart(part_name, file_sha256(copy), copy.stat().st_size, PART_WHAT[db.backend])
        parts = {part_name: copy}
        listed = [part]
        if anchors is not None:
            parts[ANCHORS_PART] = anchors
            listed.append(
                BackupPart(
                    ANCHORS_PART,
                    file_sha256(anchors),
                    anchors.stat().st_size,
                    "the anchor log (outside the database) as it stood when the backup began",
                )
            )
        manifest = BackupManifest(
            cellbatch_version=cellbatch.__version__,
            backend=db.backend,
            schema_revision=state.schema_revision,
            audit_entries=state.audit_seq,
            audit_head_hash=state.audit_hash,
            made_at=_now(),
            made_by=actor.username if actor else _unattended_by(),
            source=db.display_url,
            parts=tuple(listed),
            anchors=_anchors_summary(anchors, state, key.fingerprint),
            notes=NOTES,
        )
        with out:
            digest, size = write_backup(out, manifest, parts)
            with UnitOfWork(db, actor) as uow:
                uow.audit(
                    "backup",
                    None,
                    entity="database",
                    entity_id="",
                    new_value=json.dumps(
                        {
                            "file": str(out.path.absolute()),
                            "sha256": digest,
                            "bytes": size,
                            "audit_entries": state.audit_seq,
                            "schema": state.schema_revision,
                        },
                        sort_keys=True,
                    ),
                    reason=None if actor else _unattended_by(),
                )
                uow.commit()
            out.publish()
    return BackupMade(out.path, digest, size, manifest)


def _copy_anchor_log(log: Path, target: Path) -> Path | None:
    """Copy the anchor log (checked as every reader checks it) into the backup's parts."""
    if not log.is_file():
        return None
    read_anchors(log)  # refuses a log another account could have written
    shutil.copyfile(log, target)
    return target


def _anchors_summary(copy: Path | None, state: CopyState, fingerprint: str) -> dict:
    """What the manifest says of the anchors: the key, how many, the last one in the copy."""
    mine = (
        [
            a
            for a in read_anchors(copy).anchors
            if a.chain_id == state.chain_id and a.seq <= state.audit_seq
        ]
        if copy is not None
        else []
    )
    last = max(mine, key=lambda a: (a.seq, a.line), default=None)
    return {
        "part": ANCHORS_PART if copy is not None else None,
        "chain_id": state.chain_id,
        "key_fingerprint": fingerprint,
        "anchors_of_this_trail": len(mine),
        "last": None
        if last is None
        else {"seq": last.seq, "hash": last.hash, "at": last.shown, "kind": last.kind},
    }


# ---------------------------------------------------------------------- restore


def _refuse_mismatch(manifest: BackupManifest, backend: str) -> None:
    if manifest.backend != backend:
        raise BackupRefused(
            f"this backup is of a {manifest.backend} database; the target (--db) is "
            f"{backend}: restore it into a {manifest.backend} database"
        )
    if manifest.schema_revision != SCHEMA_HEAD:
        raise BackupRefused(
            f"this backup holds schema {manifest.schema_revision} (cellbatch "
            f"{manifest.cellbatch_version}); this program works with schema {SCHEMA_HEAD}: "
            "restore it with the cellbatch version that made it, then upgrade with "
            "`cellbatch init`"
        )


def _check_key(manifest: BackupManifest) -> None:
    """Refuse at once a restore under a site key that did not seal this backup's trail."""
    expected = (manifest.anchors or {}).get("key_fingerprint")
    if not expected:
        return
    try:
        key = load_key(key_file_path())
    except SiteKeyProblem as exc:
        raise BackupRefused(
            f"the site key of this backup's trail is needed to restore it: {exc}"
        ) from None
    if key.fingerprint != expected:
        raise BackupRefused(
            f"the site key {key.path} (fingerprint {key.fingerprint[:16]}) is not the key this "
            f"backup's trail was sealed with ({expected[:16]}): set CELLBATCH_KEY_FILE to the "
            "site's key (kept apart from the backups) and restore again"
        )


def _site_anchors(db: Database, manifest: BackupManifest) -> list[Anchor]:
    """The site's anchors after the backup (lost entries); refuse one the backup contradicts."""
    chain_id = (manifest.anchors or {}).get("chain_id")
    log = read_anchors(anchor_log_path())
    mine = [a for a in log.anchors if a.chain_id == chain_id]
    held = [a for a in mine if a.seq <= manifest.audit_entries]
    if held:
        with db.session() as session:
            found = dict(
                session.execute(
                    select(AuditEntry.seq, AuditEntry.hash).where(
                        AuditEntry.seq.in_({a.seq for a in held})
                    )
                ).all()
            )
        for anchor in held:
            if found.get(anchor.seq) != anchor.hash:
                raise BackupRefused(
                    f"the site's anchor log (line {anchor.line}, {anchor.kind}) names audit "
                    f"entry #{anchor.seq} {anchor.hash[:16]}; this backup holds "
                    f"{(found.get(anchor.seq) or 'nothing')[:16]} there: it is not a copy of "
                    "this site's records"
                )
    return sorted((a for a in mine if a.seq > manifest.audit_entries), key=lambda a: a.seq)


def _install_anchor_log(opened: OpenedBackup) -> Path | None:
    """Put the backup's anchor log in place where the site has none (a new machine)."""
    copy = opened.parts.get(ANCHORS_PART)
    target = anchor_log_path()
    if copy is None or os.path.lexists(target):
        return None
    write_output(target, copy.read_bytes(), field="CELLBATCH_ANCHOR_LOG")
    return target


def _settle(
    db: Database, opened: OpenedBackup, username: str, password: str
) -> tuple[Actor, VerifyReport]:
    """Check, log in, record and verify a freshly restored database.

    ``db`` verifies against the backup's own anchor log: the trail must hold up to every
    anchor it had when it was backed up.
    """
    manifest = opened.manifest
    with db.session() as session:
        head = session.execute(select(AuditHead)).scalar_one()
    if (head.seq, head.hash) != (manifest.audit_entries, manifest.audit_head_hash):
        raise BackupRefused(
            f"the restored database's audit trail ends at #{head.seq}, the manifest says "
            f"#{manifest.audit_entries}: the backup does not match its manifest"
        )
    actor = authenticate(db, username, password)
    actor.require(Role.ADMIN, action="restore a backup")
    with UnitOfWork(db, actor) as uow:
        uow.audit(
            "restore",
            None,
            entity="database",
            entity_id="",
            new_value=json.dumps(
                {
                    "file": str(opened.path.absolute()),
                    "sha256": opened.sha256,
                    "made_at": manifest.made_at,
                    "made_by": manifest.made_by,
                    "audit_entries": manifest.audit_entries,
                },
                sort_keys=True,
            ),
            reason="restored from backup",
        )
        uow.commit()
    report = verify_trail(db)
    if not report.ok:
        raise BackupRefused(
            f"the restored records do not pass audit verify: {report.problems[0]}; "
            "nothing was restored"
        )
    return actor, report


def _backup_log(work: Path, opened: OpenedBackup) -> Path:
    """The backup's own anchor log (an empty one beside it when it had none)."""
    return opened.parts.get(ANCHORS_PART) or work / "no-anchors.log"


@contextmanager
def _opened(path: Path, folder: Path):
    with tempfile.TemporaryDirectory(prefix=".cellbatch-restore-", dir=folder) as work:
        yield Path(work), read_backup(path, Path(work))


SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
"""Endings of the files SQLite keeps beside a database: never a restore's target."""


def restore_backup(url: str, path: Path, username: str, password: str) -> RestoreDone:
    """Restore the backup at ``path`` into the empty database ``url`` and verify it."""
    url = normalise_url(url)
    target = sqlite_file(url)
    if target is not None:
        return _restore_sqlite(url, target, Path(path), username, password)
    if url.startswith("sqlite"):
        raise InvalidInput("--db", "expected a database file or a PostgreSQL URL to restore into")
    return _restore_postgresql(url, Path(path), username, password)


def _restore_sqlite(
    url: str, target: Path, path: Path, username: str, password: str
) -> RestoreDone:
    if os.path.lexists(target):
        raise InvalidInput(
            "--db",
            f"{target} already exists: a restore makes a new database file only; "
            "name a file that does not exist yet",
        )
    for end in SQLITE_COMPANIONS:
        if target.name.endswith(end):
            raise InvalidInput(
                "--db",
                f"{target} ends in {end}: SQLite keeps the journal of the database "
                f"{target.name.removesuffix(end)} under that name, so a restore there would "
                "damage it; name a database file (e.g. restored.db)",
            )
    folder = target.parent
    if folder.resolve() == default_data_dir().expanduser().resolve():
        folder.mkdir(parents=True, exist_ok=True)
    if not folder.is_dir():
        raise InvalidInput("--db", f"folder {folder} does not exist")
    with _opened(path, folder) as (work, opened):
        _refuse_mismatch(opened.manifest, "sqlite")
        _check_key(opened.manifest)
        staged = opened.parts[DATABASE_PART["sqlite"]]
        os.chmod(staged, 0o600)
        db = Database(f"sqlite:///{staged}", access="write", anchor_log=_backup_log(work, opened))
        try:
            db.ensure_schema()
            _actor, report = _settle(db, opened, username, password)
            lost = _site_anchors(db, opened.manifest)
        finally:
            db.dispose()
        with sqlite3.connect(staged) as connection:  # everything into the main file
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.close()
        hidden = folder / f".{target.name}.{secrets.token_hex(6)}.restored"
        os.link(staged, hidden)
        try:
            os.link(hidden, target)  # fails if the name was taken meanwhile
        except FileExistsError:
            raise InvalidInput(
                "--db", f"{target} was created by someone else meanwhile: nothing was restored"
            ) from None
        finally:
            os.unlink(hidden)
        directory = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        installed = _install_anchor_log(opened)
        shutil.rmtree(work, ignore_errors=True)
    return RestoreDone(str(target), opened.manifest, report, lost, installed)


def _restore_postgresql(url: str, path: Path, username: str, password: str) -> RestoreDone:
    db = Database(url, access="create")
    try:
        state = db.schema_state()
        if state.kind != "empty":
            shown = ", ".join(state.tables[:5]) or "cellbatch's tables"
            raise InvalidInput(
                "--db",
                f"database {db.display_url} is not empty (it holds {shown}): a restore goes "
                "into an empty database only; create one (createdb) and name it with --db",
            )
        with _opened(path, Path(tempfile.gettempdir())) as (work, opened):
            _refuse_mismatch(opened.manifest, "postgresql")
            _check_key(opened.manifest)
            pg_restore(url, opened.parts[DATABASE_PART["postgresql"]])
            try:
                db.dispose()
                restored = Database(url, access="write", anchor_log=_backup_log(work, opened))
                try:
                    restored.ensure_schema()
                    _actor, report = _settle(restored, opened, username, password)
                    lost = _site_anchors(restored, opened.manifest)
                finally:
                    restored.dispose()
            except BaseException:
                pg_clear(db)
                raise
            installed = _install_anchor_log(opened)
        return RestoreDone(db.display_url, opened.manifest, report, lost, installed)
    finally:
        db.dispose()
