"""SOP versions in the database: the author's submission, QA's approval, a new batch's pin.

Authorship is recorded in cellbatch: the author is a user who signs the version. The QA
officer who approves it must be another person: not the author under any of their accounts,
and not the person the file's own ``author`` line names.
"""

from __future__ import annotations

import json
import tomllib
from datetime import datetime
from typing import Any

from sqlalchemy import select

from cellbatch.db.database import Database
from cellbatch.db.tables import SopApproval, SopAuthorship, SopVersion
from cellbatch.domain.errors import InvalidSop, PermissionDenied, RuleViolation
from cellbatch.domain.people import names_person
from cellbatch.domain.sop import Sop
from cellbatch.domain.timeparse import iso_utc
from cellbatch.domain.users import Actor, Role
from cellbatch.services.auth import reauthenticate
from cellbatch.services.queries.involvement import same_person
from cellbatch.services.queries.sops import (
    SopApprovalView,
    approval_of,
    authorship_of,
    find_usable_sop,
)
from cellbatch.services.unit_of_work import UnitOfWork


def _document(sop: Sop) -> dict[str, Any]:
    if not sop.source:
        raise InvalidSop("<sop>", "source", "an SOP must come from a file to be pinned")
    with open(sop.source, "rb") as handle:
        document = tomllib.load(handle)
    return json.loads(json.dumps(document, default=str))


def _registered(uow: UnitOfWork, sop: Sop, reason: str) -> SopVersion:
    """The database's copy of this SOP version, added at first need.

    A file whose content changed while keeping a version already registered is refused: a
    changed procedure is a new version, never a silent edit.
    """
    row = uow.session.execute(
        select(SopVersion).where(SopVersion.sop_id == sop.id, SopVersion.version == sop.version)
    ).scalar_one_or_none()
    if row is None:
        return uow.add(
            SopVersion(
                sop_id=sop.id,
                version=sop.version,
                status=sop.status,
                title=sop.title,
                kind=sop.kind,
                content_hash=sop.content_hash,
                content=_document(sop),
                registered_at=uow.now,
            ),
            reason=reason,
        )
    if row.content_hash != sop.content_hash:
        raise RuleViolation(
            f"{sop.label} on disk differs from the {sop.label} registered in cellbatch "
            f"(hash {sop.content_hash[:12]} vs {row.content_hash[:12]}): a changed procedure "
            "must be released as a new version"
        )
    return row


def _signed(sop: Sop, signer: Actor, signed_at: datetime) -> SopApprovalView:
    return SopApprovalView(
        sop.id, sop.version, sop.content_hash, signer.full_name, signer.username,
        iso_utc(signed_at) or "",
    )  # fmt: skip


AUTHOR_ROLES = (Role.TECHNICIAN, Role.SUPERVISOR, Role.QA)
"""Who may author an SOP (an admin administers accounts, never writes procedures)."""


def submit_sop(
    db: Database, username: str, password: str, sop_id: str, version: str | None = None
) -> SopApprovalView:
    """The author submits an SOP version for QA's approval, signing it as its author.

    One author per version; the version is registered (bound to its content hash) if it
    was not yet.
    """
    sop = find_usable_sop(sop_id, version)
    author = reauthenticate(db, username, password)
    author.require(*AUTHOR_ROLES, action="author SOPs")
    with UnitOfWork(db, author) as uow:
        row = _registered(uow, sop, "registered by its author")
        existing = authorship_of(uow.session, row)
        if existing is not None:
            raise RuleViolation(
                f"{sop.label} already has an author in cellbatch ({existing.author_name})"
            )
        if approval_of(uow.session, row) is not None:
            raise RuleViolation(f"{sop.label} is already approved in cellbatch")
        signed = uow.add(
            SopAuthorship(
                sop_version_id=row.id,
                content_hash=row.content_hash,
                author_id=author.id,
                author_name=author.full_name,
                signed_at=uow.now,
            ),
            reason=f"authored and submitted for approval: {sop.label}",
        )
        uow.commit()
        return _signed(sop, author, signed.signed_at)


def _require_other_person(uow: UnitOfWork, sop: Sop, row: SopVersion, signer: Actor) -> None:
    """The approver is neither the author in cellbatch nor the person the file names as author."""
    authorship = authorship_of(uow.session, row)
    if authorship is None:
        raise RuleViolation(
            f"{sop.label} has no author in cellbatch: its author signs it first "
            f"(`cellbatch sop submit {sop.id} --version {sop.version} --user USER-ID`)"
        )
    if authorship.author_id in same_person(uow.session, signer.id):
        raise PermissionDenied(
            f"{signer.username} wrote {sop.label}: an SOP is approved by another person"
        )
    if names_person(sop.author, signer.full_name):
        raise PermissionDenied(
            f"the file of {sop.label} names {signer.username} ({signer.full_name}) as its "
            f"author ({sop.author!r}): an SOP is approved by another person"
        )


def approve_sop(
    db: Database, username: str, password: str, sop_id: str, version: str | None = None
) -> SopApprovalView:
    """QA approves an SOP version for use with an electronic signature (user ID and password).

    The file must say it is approved (its author's release of the text), its author must
    have signed it in cellbatch (:func:`submit_sop`), and the approver must be another person;
    this signature is the approval inside cellbatch, bound to the version's content hash.
    """
    sop = find_usable_sop(sop_id, version)
    signer = reauthenticate(db, username, password)
    signer.require(Role.QA, action="approve SOPs")
    sop.ensure_approved()
    with UnitOfWork(db, signer) as uow:
        row = _registered(uow, sop, "registered for approval")
        if approval_of(uow.session, row) is not None:
            raise RuleViolation(f"{sop.label} is already approved in cellbatch")
        _require_other_person(uow, sop, row, signer)
        approval = uow.add(
            SopApproval(
                sop_version_id=row.id,
                content_hash=row.content_hash,
                signer_id=signer.id,
                signer_name=signer.full_name,
                signed_at=uow.now,
            ),
            reason=f"approved: {sop.label}",
        )
        uow.commit()
        return _signed(sop, signer, approval.signed_at)


def pin_sop(uow: UnitOfWork, sop_id: str, version: str | None, kind: str) -> tuple[SopVersion, Sop]:
    """The approved SOP version a new batch is made under, registered by ID, version and hash.

    The version must be approved in cellbatch by QA (``cellbatch sop approve``) for the exact
    content on disk.
    """
    sop = find_usable_sop(sop_id, version)
    sop.ensure_approved()
    if sop.kind != kind:
        raise RuleViolation(f"{sop.label} is a {sop.kind} SOP; this batch needs a {kind} SOP")
    row = _registered(uow, sop, "registered at first use")
    approval = approval_of(uow.session, row)
    if approval is None or approval.content_hash != row.content_hash:
        raise RuleViolation(
            f"{sop.label} is not approved in cellbatch: QA approves it with an electronic "
            f"signature (`cellbatch sop approve {sop.id} --version {sop.version} "
            "--user USER-ID`)"
        )
    return row, sop
