"""The QA release decision on a bank or a dose batch (release, reject, quarantine).

Only QA decides, with an electronic signature over the whole batch record (user ID and
password again). Release is refused while any release criterion is unmet (see
:mod:`cellbatch.services.queries.review`). Release and rejection are refused to a QA officer
involved in the batch (:mod:`cellbatch.services.queries.involvement`: started, recorded,
corrected, performed, verified or investigated anything of it, under any of their accounts);
quarantine, which only holds the batch, is not. After release or rejection the batch is locked.
"""

from __future__ import annotations

from cellbatch.db.database import Database
from cellbatch.db.tables import ReleaseChecklist, ReleaseDecision
from cellbatch.domain.errors import InvalidInput, PermissionDenied, RuleViolation
from cellbatch.domain.text import typed_text
from cellbatch.domain.users import Actor, Role
from cellbatch.services.audit_anchor import ensure_anchor_log, entry_anchor, write_anchor
from cellbatch.services.auth import reauthenticate
from cellbatch.services.batch_access import ensure_open, find_batch
from cellbatch.services.commands.signatures import add_signature
from cellbatch.services.queries.involvement import involvement, involvement_text
from cellbatch.services.queries.review import checklist_sources, release_checklist
from cellbatch.services.unit_of_work import UnitOfWork

DECISIONS = {"release": "released", "reject": "rejected", "quarantine": "quarantine"}
"""Decision → the batch status it gives."""

SIGNATURE_MEANING = {"release": "released", "reject": "rejected", "quarantine": "reviewed"}
"""Decision → the meaning of QA's signature over the batch record."""


def decide(
    db: Database, user: Actor | str, code: str, decision: str, reason: str, *, password: str
) -> str:
    """Record QA's signed decision and set the batch status; returns the new status.

    ``user`` is the deciding QA officer (an Actor or a user ID); ``password`` is asked again
    because the decision is an electronic signature: a wrong one is refused and counted.
    """
    decision = decision.strip().lower()
    if decision not in DECISIONS:
        raise InvalidInput(
            "--decision", f"expected release, reject or quarantine, got {decision!r}"
        )
    reason = typed_text(reason, "--reason", what="the reason for the decision")
    username = user.username if isinstance(user, Actor) else user
    ensure_anchor_log(db)  # a release is anchored: refused before anything if it cannot be
    signer = reauthenticate(db, username, password)
    signer.require(Role.QA, action="release, reject or quarantine batches")
    with UnitOfWork(db, signer) as uow:
        batch = find_batch(uow.session, code, for_update=True)
        ensure_open(batch)
        if decision in ("release", "reject"):
            involved = involvement(uow.session, batch, signer.id)
            if involved:
                raise PermissionDenied(
                    f"{signer.username} may not {decision} {batch.code}: they "
                    f"{involvement_text(involved)}; the QA officer who decides a batch must "
                    "not have recorded, corrected, verified or investigated anything of it"
                )
        for row in checklist_sources(uow.session, batch):
            uow.prove(row)  # what the checklist rests on (the signed record is proved on signing)
        checklist = release_checklist(uow.session, batch, uow.now)
        if decision == "release":
            unmet = [c for c in checklist if not c.met]
            if unmet:
                raise RuleViolation(
                    f"{batch.code} cannot be released, criteria unmet: "
                    + "; ".join(f"{c.description} ({c.detail})" for c in unmet)
                )
        decided = uow.add(
            ReleaseDecision(
                batch_id=batch.id,
                decision=decision,
                reason=reason.strip(),
                decided_at=uow.now,
                decided_by=signer.id,
            ),
            batch_id=batch.id,
            reason=reason.strip(),
        )
        uow.add(  # the checklist QA decided on, kept: the record shows it after the decision
            ReleaseChecklist(
                release_decision_id=decided.id, criteria=[c.to_dict() for c in checklist]
            ),
            batch_id=batch.id,
        )
        uow.change(
            batch,
            "status",
            DECISIONS[decision],
            reason=reason.strip(),
            batch_id=batch.id,
            action=decision,
        )
        add_signature(uow, signer, batch, "batch", batch.id, SIGNATURE_MEANING[decision])
        uow.commit()
        signed = uow.last_entry  # the signature's entry: what its manifestation shows
    if signed is not None:  # every decision is anchored (release, reject, quarantine)
        write_anchor(db, "release", entry_anchor(db, signed.seq, signed.hash, "release"))
    return batch.status
