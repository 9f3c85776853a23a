"""Giving a Part 11 electronic signature: re-authenticated, bound to the content signed.

What a signature covers and how its validity is recomputed is in
:mod:`cellbatch.services.queries.signatures`.
"""

from __future__ import annotations

from sqlmodel import Session

from cellbatch.db.database import Database
from cellbatch.db.tables import (
    Batch,
    QcResult,
    Signature,
    StepEntry,
)
from cellbatch.domain.errors import InvalidInput, NotFound, PermissionDenied, RuleViolation
from cellbatch.domain.users import Actor, Role
from cellbatch.services.auth import reauthenticate
from cellbatch.services.batch_access import ensure_open, find_batch
from cellbatch.services.queries.involvement import involvement, involvement_text, is_entry_author
from cellbatch.services.queries.signatures import (
    BatchRows,
    content_hash_of,
    parse_ref,
    ref_of,
    signature_views,
)
from cellbatch.services.unit_of_work import UnitOfWork

MEANINGS = ("performed", "verified", "reviewed", "approved", "released", "rejected")
"""What a signature means, as Part 11 requires it to be shown."""

SIGNING_ROLES = (Role.TECHNICIAN, Role.SUPERVISOR, Role.QA)
"""Roles that sign batch records (an admin administers accounts, never records)."""


def add_signature(
    uow: UnitOfWork, signer: Actor, batch: Batch, entity: str, entity_id: int, meaning: str
) -> Signature:
    """Sign a record inside an open unit of work (the signer is already re-authenticated).

    Every row the signed content is read from is proved first, as any write proves the rows
    it vouches for: a signature never binds a record edited outside the program.
    """
    if meaning not in MEANINGS:
        raise InvalidInput("--meaning", f"expected one of {', '.join(MEANINGS)}, got {meaning!r}")
    rows = BatchRows(uow.session, batch)
    digest = content_hash_of(rows, entity, entity_id)
    for row in rows.loaded():
        uow.prove(row)
    return uow.add(
        Signature(
            batch_id=batch.id,
            entity=entity,
            entity_id=entity_id,
            meaning=meaning,
            content_hash=digest,
            signer_id=signer.id,
            signer_name=signer.full_name,
            signed_at=uow.now,
        ),
        batch_id=batch.id,
        reason=f"electronic signature ({meaning}) of {ref_of(entity, entity_id)}",
    )


def _require_performer(
    session: Session, batch: Batch, signer: Actor, entity: str, entity_id: int | None
) -> None:
    """A ``performed`` signature is given by the person who recorded the entry, on an entry."""
    model = {"step_entry": StepEntry, "qc_result": QcResult}.get(entity)
    if model is None or entity_id is None:
        raise InvalidInput("ENTRY-ID", "a performed signature goes on a step (E<n>) or QC (Q<n>)")
    row = session.get(model, entity_id)
    if row is None or row.batch_id != batch.id:
        raise NotFound(f"batch {batch.code} has no {ref_of(entity, entity_id)}")
    if row.recorded_by != signer.id:
        raise PermissionDenied(
            f"{signer.username} did not record {ref_of(entity, entity_id)}: only the person "
            "who performed it signs it as performed"
        )


def _require_independent(
    session: Session,
    batch: Batch,
    signer: Actor,
    entity: str,
    entity_id: int | None,
    meaning: str,
) -> None:
    """A ``reviewed`` or ``approved`` signature is never given on one's own work."""
    if entity in ("step_entry", "qc_result") and entity_id is not None:
        if is_entry_author(session, batch, entity, entity_id, signer.id):
            raise PermissionDenied(
                f"{signer.username} recorded or corrected {ref_of(entity, entity_id)}: a "
                f"{meaning} signature is given by someone else"
            )
    elif entity == "batch":
        involved = involvement(session, batch, signer.id)
        if involved:
            raise PermissionDenied(
                f"{signer.username} may not sign {batch.code} as {meaning}: they "
                f"{involvement_text(involved)}"
            )


def sign(db: Database, username: str, password: str, code: str, ref: str, meaning: str) -> int:
    """Sign one record of a batch (or the batch record) with a meaning; returns its id."""
    meaning = meaning.strip().lower()
    if meaning not in MEANINGS:
        raise InvalidInput("--meaning", f"expected one of {', '.join(MEANINGS)}, got {meaning!r}")
    if meaning in ("released", "rejected"):
        raise InvalidInput(
            "--meaning", f"a {meaning} signature is QA's decision: `cellbatch release --help`"
        )
    if meaning == "verified":
        raise InvalidInput(
            "--meaning",
            "verified is a second person's signature: `cellbatch verify --help`",
        )
    entity, entity_id = parse_ref(ref)
    signer = reauthenticate(db, username, password)
    signer.require(*SIGNING_ROLES, action="sign batch records")
    with UnitOfWork(db, signer) as uow:
        batch = find_batch(uow.session, code, for_update=True)
        ensure_open(batch)
        if meaning == "performed":
            _require_performer(uow.session, batch, signer, entity, entity_id)
        else:
            _require_independent(uow.session, batch, signer, entity, entity_id, meaning)
        shown = ref_of(entity, batch.id if entity_id is None else entity_id)
        if any(
            v.on == shown and v.meaning == meaning and v.username == signer.username and v.valid
            for v in signature_views(uow.session, batch)
        ):
            raise RuleViolation(
                f"{signer.username} has already signed {shown} as {meaning}, and that "
                "signature is still valid"
            )
        sig = add_signature(
            uow, signer, batch, entity, batch.id if entity_id is None else entity_id, meaning
        )
        uow.commit()
        return sig.id
