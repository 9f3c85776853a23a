"""Second-person verification of a critical entry: a ``verified`` signature by someone else.

Which entries need it, and where each stands, is in :mod:`cellbatch.services.queries.verification`.
"""

from __future__ import annotations

from cellbatch.db.database import Database
from cellbatch.domain.errors import InvalidInput, PermissionDenied, RuleViolation
from cellbatch.domain.text import typed_text
from cellbatch.services.auth import reauthenticate
from cellbatch.services.batch_access import ensure_open_for_entry, find_batch
from cellbatch.services.commands.deviations import open_automatic
from cellbatch.services.commands.signatures import SIGNING_ROLES, add_signature
from cellbatch.services.queries.involvement import is_entry_author
from cellbatch.services.queries.signatures import parse_ref, ref_of
from cellbatch.services.queries.verification import entry_verifications
from cellbatch.services.unit_of_work import UnitOfWork


def verify(db: Database, username: str, password: str, code: str, ref: str) -> int:
    """Sign an entry as ``verified`` by a second person; returns the signature id."""
    entity, entity_id = parse_ref(ref)
    if entity not in ("step_entry", "qc_result"):
        raise InvalidInput("ENTRY-ID", "expected a step entry (E<n>) or a QC result (Q<n>)")
    verifier = reauthenticate(db, username, password)
    verifier.require(*SIGNING_ROLES, action="verify entries")
    with UnitOfWork(db, verifier) as uow:
        batch = find_batch(uow.session, code, for_update=True)
        assert entity_id is not None
        ensure_open_for_entry(uow.session, batch, entity, entity_id)
        shown = ref_of(entity, entity_id)
        if is_entry_author(uow.session, batch, entity, entity_id, verifier.id):
            raise PermissionDenied(
                f"{verifier.username} recorded or corrected {shown}: a second person must verify it"
            )
        state = next(v for v in entry_verifications(uow.session, batch) if v.ref == shown)
        if state.status == "verified":
            last = state.verifications[-1]
            raise RuleViolation(
                f"{shown} is already verified by {last.full_name} at {last.signed_at}"
            )
        sig = add_signature(uow, verifier, batch, entity, entity_id, "verified")
        uow.commit()
        return sig.id


def decline(db: Database, username: str, password: str, code: str, ref: str, reason: str) -> int:
    """A second person declines to verify an entry, saying why; returns the deviation's id.

    The entry stays unverified (so the batch cannot be released), and a deviation opens on the
    batch in the same transaction, with the verifier's reason: the entry is corrected or
    explained in its investigation, then verified by a second person as usual.
    """
    entity, entity_id = parse_ref(ref)
    if entity not in ("step_entry", "qc_result"):
        raise InvalidInput("ENTRY-ID", "expected a step entry (E<n>) or a QC result (Q<n>)")
    why = typed_text(reason, "--reason", what="why the entry cannot be verified")
    verifier = reauthenticate(db, username, password)
    verifier.require(*SIGNING_ROLES, action="verify entries")
    with UnitOfWork(db, verifier) as uow:
        batch = find_batch(uow.session, code, for_update=True)
        assert entity_id is not None
        ensure_open_for_entry(uow.session, batch, entity, entity_id)
        shown = ref_of(entity, entity_id)
        if is_entry_author(uow.session, batch, entity, entity_id, verifier.id):
            raise PermissionDenied(
                f"{verifier.username} recorded or corrected {shown}: a second person must verify it"
            )
        state = next(v for v in entry_verifications(uow.session, batch) if v.ref == shown)
        if state.status == "verified":
            raise RuleViolation(f"{shown} is verified already: open a deviation instead")
        dev = open_automatic(
            uow,
            batch,
            title=f"Verification of {shown} declined",
            description=f"{verifier.full_name} declined to verify {shown}: {why}",
            reason=f"verification of {shown} declined: {why}",
        )
        uow.commit()
        return dev.id
