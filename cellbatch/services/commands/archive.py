"""The 30-year archive of a batch: written whole, recorded, checked (GMP-33).

The folder is built in a private folder beside its target, every file flushed to disk, then
renamed into place in one step: the target holds the whole archive or nothing. Making it is
recorded in the audit trail (who, which batch, where, the SHA-256 of its ``SHA256SUMS``),
committed before the folder takes its name, like every document that leaves the system.

Released batches are archived automatically (:func:`archive_released`), after the release
is committed: the release never waits for, or fails because of, the archive. When the
archive cannot be made the person is told, with the command that makes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

import cellbatch
from cellbatch.db.database import Database
from cellbatch.db.tables import User
from cellbatch.domain.errors import CellbatchError, InvalidInput
from cellbatch.domain.users import Actor, Role
from cellbatch.services.archive_verify import SEAL, SUMS, sums_seal
from cellbatch.services.auth import actor_of
from cellbatch.services.batch_access import find_batch
from cellbatch.services.queries.archive_content import ArchiveContent, ArchiveFile, archive_content
from cellbatch.services.unit_of_work import UnitOfWork
from cellbatch.settings import archive_dir

FORMAT = "cellbatch-archive/1"

Render = Callable[[ArchiveContent, str, str], list[ArchiveFile]]
"""Draws the archive's files from its content, the archiving person and the version."""


@dataclass(frozen=True)
class ArchiveMade:
    """An archive folder written: where, how many files, the SHA-256 of its SHA256SUMS."""

    folder: Path
    files: int
    sums_sha256: str
    labels_matching: bool


def check_target(folder: Path, field: str = "--output") -> Path:
    """Refuse a target that exists (other than an empty folder) or whose parent does not."""
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InvalidInput(
            field, f"{folder} already exists and is not an empty folder: name a new folder"
        )
    if not folder.parent.is_dir():
        raise InvalidInput(field, f"folder {folder.parent} does not exist")
    return folder


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_archive(
    db: Database, actor: Actor | None, code: str, folder: Path, render: Render
) -> ArchiveMade:
    """Archive batch ``code`` into the new folder ``folder``; ``actor`` None is the system."""
    if actor is not None:
        actor.require(Role.QA, Role.ADMIN, action="archive a batch record")
    folder = check_target(Path(folder))
    content = archive_content(db, code)
    made_by = actor.username if actor else "system"
    files = render(content, made_by, cellbatch.__version__)
    listed = [
        {
            "path": f.path,
            "sha256": hashlib.sha256(f.data).hexdigest(),
            "bytes": len(f.data),
            "what": f.what,
        }
        for f in files
    ]
    manifest = {
        "format": FORMAT,
        "batch": content.batch,
        "status": content.status,
        "made_at": content.made_at,
        "made_by": made_by,
        "cellbatch_version": cellbatch.__version__,
        "schema_revision": content.schema_revision,
        "audit_head": {"seq": content.head_seq, "hash": content.head_hash},
        "anchor": content.anchor,
        "labels_content_matches_print": all(label.matches for label in content.labels),
        "files": listed,
    }
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    sums = "".join(
        f"{hashlib.sha256(data).hexdigest()}  {path}\n"
        for path, data in sorted(
            [(f.path, f.data) for f in files] + [("manifest.json", manifest_bytes)]
        )
    ).encode()
    sums_sha256 = hashlib.sha256(sums).hexdigest()
    seal = (sums_seal(sums, db.site_key().secret) + "\n").encode("ascii")
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".partial", dir=folder.parent))
    try:
        for f in files:
            _write(work / f.path, f.data)
        _write(work / "manifest.json", manifest_bytes)
        _write(work / SUMS, sums)
        _write(work / SEAL, seal)
        for sub in sorted({p.parent for p in work.rglob("*")}, reverse=True):
            _fsync_dir(sub)
        with UnitOfWork(db, actor) as uow:
            batch = find_batch(uow.session, code)
            uow.audit(
                "archive",
                None,
                entity="batch",
                entity_id=str(batch.id),
                batch_id=batch.id,
                new_value=json.dumps(
                    {
                        "folder": str(folder.absolute()),
                        "sha256_of_SHA256SUMS": sums_sha256,
                        "files": len(files) + 3,
                        "audit_head": content.head_seq,
                    },
                    sort_keys=True,
                ),
                reason=None if actor else "archived automatically at release",
            )
            uow.commit()
        try:
            os.rename(work, folder)
        except OSError as exc:
            raise InvalidInput(
                "--output", f"cannot put the archive at {folder}: {exc.strerror or exc}"
            ) from None
        _fsync_dir(folder.parent)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return ArchiveMade(
        folder, len(files) + 3, sums_sha256, manifest["labels_content_matches_print"]
    )


@dataclass(frozen=True)
class AutoArchive:
    """What became of the automatic archive after a release."""

    made: ArchiveMade | None
    problem: str | None
    retry: str | None
    """The command that makes the archive by hand, when it failed."""


def archive_released(db: Database, username: str, code: str, render: Render) -> AutoArchive | None:
    """Archive a batch just released into the configured archive folder (None: none set).

    ``username`` is the QA officer whose signature released it (just authenticated by the
    release). Called after the release is committed; it never undoes or fails the release.
    A failure comes back as a message and the command to make the archive by hand.
    """
    base = archive_dir()
    if base is None:
        return None
    with db.session() as session:
        batch = find_batch(session, code)
        if batch.status != "released":
            return None
        batch_code = batch.code
        user = session.execute(select(User).where(User.username == username)).scalar_one()
        actor = actor_of(user)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = base / f"{batch_code}-{stamp}"
    retry = f"cellbatch archive {batch_code} -o {target} --user {actor.username}"
    try:
        base.mkdir(parents=True, exist_ok=True)
        made = make_archive(db, actor, batch_code, target, render)
    except CellbatchError as exc:
        return AutoArchive(None, str(exc), retry)
    except OSError as exc:
        return AutoArchive(None, f"{target}: {exc.strerror or exc}", retry)
    return AutoArchive(made, None, None)
