"""Procedures: the SOP files on disk and the exact versions batches are pinned to."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from cellbatch.db.database import Database
from cellbatch.db.tables import Batch, SopApproval, SopAuthorship, SopVersion, User
from cellbatch.domain.errors import NotFound, RuleViolation
from cellbatch.domain.sop import Sop, SopFolder, find_sop, load_sop_folder, parse_sop
from cellbatch.domain.timeparse import iso_utc
from cellbatch.settings import paths

_loaded: dict[Path, tuple[tuple, SopFolder]] = {}


@dataclass(frozen=True)
class SopApprovalView:
    """An SOP version's signature as shown (QA's approval, or its author's): who, when, on what."""

    sop_id: str
    version: str
    content_hash: str
    full_name: str
    username: str
    signed_at: str


def _folder_signature(directory: Path) -> tuple:
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except FileNotFoundError:
        return ()
    return tuple(
        (e.name, e.stat().st_mtime_ns, e.stat().st_size)
        for e in entries
        if e.name.endswith(".toml")
    )


def sop_folder() -> SopFolder:
    """The configured SOP folder, loaded file by file: valid SOPs and the files set aside.

    Parsed files are kept while the folder's file names, sizes and times are unchanged,
    so an edited or added file is read again at once.
    """
    directory = paths().sops_dir
    signature = _folder_signature(directory)
    cached = _loaded.get(directory)
    if cached is not None and cached[0] == signature and signature:
        return cached[1]
    folder = load_sop_folder(directory)
    _loaded[directory] = (signature, folder)
    return folder


def available_sops() -> list[Sop]:
    """Every valid SOP file in the configured folder, by ID then version.

    A malformed file is left out (see :func:`sop_folder` for why); the others stay usable.
    """
    return list(sop_folder().sops)


def find_usable_sop(sop_id: str, version: str | None = None) -> Sop:
    """An SOP by ID and version (default: the latest approved), among the valid files.

    When it is not found and some files were set aside, the message names them: the SOP
    wanted may be in one of them.
    """
    folder = sop_folder()
    try:
        return find_sop(list(folder.sops), sop_id, version)
    except NotFound as exc:
        if not folder.problems:
            raise
        unusable = "; ".join(str(p) for p in folder.problems)
        raise NotFound(f"{exc}; files not loaded: {unusable}") from None


def sop_summary(sop: Sop) -> dict[str, Any]:
    """ID, version, status, kind, title, content hash and file of one SOP."""
    return {
        "id": sop.id,
        "version": sop.version,
        "status": sop.status,
        "kind": sop.kind,
        "title": sop.title,
        "product": sop.product,
        "content_hash": sop.content_hash,
        "file": Path(sop.source).name if sop.source else None,
    }


def describe_sop(sop_id: str, version: str | None = None) -> dict[str, Any]:
    """One SOP for display: steps with parameters (unit, range, critical) and QC specs."""
    sop = find_usable_sop(sop_id, version)
    return {
        **sop_summary(sop),
        "steps": [
            {
                "id": step.id,
                "kind": step.kind,
                "title": step.title,
                "materials": list(step.materials),
                "parameters": [
                    {
                        "name": p.name,
                        "label": p.label,
                        "unit": p.measure.display or p.unit,
                        "range": p.range_text(),
                        "critical": p.critical,
                        "input": p.input,
                    }
                    for p in step.parameters
                ],
            }
            for step in sop.steps
        ],
        "qc": [
            {
                "id": t.id,
                "test": t.test,
                "name": t.name,
                "stage": t.stage,
                "spec": t.spec_text(),
                "required_for_release": t.required_for_release,
            }
            for t in sop.qc
        ],
    }


def approval_of(session: Session, row: SopVersion) -> SopApproval | None:
    """QA's approval signature of a registered SOP version, if it has one."""
    return session.execute(
        select(SopApproval).where(SopApproval.sop_version_id == row.id)
    ).scalar_one_or_none()


def authorship_of(session: Session, row: SopVersion) -> SopAuthorship | None:
    """The author's signature submitting a registered SOP version, if it has one."""
    return session.execute(
        select(SopAuthorship).where(SopAuthorship.sop_version_id == row.id)
    ).scalar_one_or_none()


def approvals(db: Database) -> dict[tuple[str, str], SopApprovalView]:
    """Every SOP version approved in cellbatch, by (ID, version)."""
    return _signed_versions(db, SopApproval, SopApproval.signer_id, SopApproval.signer_name)


def authorships(db: Database) -> dict[tuple[str, str], SopApprovalView]:
    """Every SOP version whose author signed it in cellbatch, by (ID, version)."""
    return _signed_versions(db, SopAuthorship, SopAuthorship.author_id, SopAuthorship.author_name)


def _signed_versions(db: Database, model, signer_id, signer_name):
    with db.session() as session:
        rows = session.execute(
            select(SopVersion, model.content_hash, signer_name, model.signed_at, User.username)
            .join(model, model.sop_version_id == SopVersion.id)
            .join(User, User.id == signer_id)
        ).all()
        return {
            (v.sop_id, v.version): SopApprovalView(
                v.sop_id, v.version, content_hash, name, username, iso_utc(signed_at) or ""
            )
            for v, content_hash, name, signed_at, username in rows
        }


_PINNED: dict[str, Sop] = {}
"""SOP versions read from the database in this process, by content hash (immutable)."""


@lru_cache(maxsize=64)
def _parse_pinned(content_hash: str, content_json: str) -> Sop:
    sop = parse_sop(
        json.loads(content_json), source=f"pinned SOP {content_hash[:12]}", history=True
    )
    if sop.content_hash != content_hash:
        raise RuleViolation(f"pinned SOP content does not match its hash {content_hash[:12]}")
    _PINNED[content_hash] = sop
    return sop


def pinned_sop(db: Database, content_hash: str) -> Sop:
    """The SOP version a batch is pinned to, by its content hash, from the database.

    Never from the SOP folder: a batch's screens keep working when its file is removed or
    changed. A version already read in this process is not read again (its content is
    bound to its hash).
    """
    cached = _PINNED.get(content_hash)
    if cached is not None:
        return cached
    with db.session() as session:
        row = session.execute(
            select(SopVersion).where(SopVersion.content_hash == content_hash).limit(1)
        ).scalar_one_or_none()
        if row is None:
            raise NotFound(f"no SOP version with content hash {content_hash[:12]} in cellbatch")
        return _parse_pinned(row.content_hash, json.dumps(row.content, sort_keys=True))


def sop_of_row(row: SopVersion) -> Sop:
    """The SOP version a stored row pins (parsed once per content hash)."""
    return _parse_pinned(row.content_hash, json.dumps(row.content, sort_keys=True))


def sop_of(session, batch: Batch) -> Sop:
    """The exact SOP version a batch is pinned to, from the database (not from disk)."""
    return sop_of_row(session.get(SopVersion, batch.sop_version_id))
