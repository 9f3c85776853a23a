"""Who is involved in what, per person (segregation of duties, 21 CFR 11.10(g)).

The one place every door asks "did this person take part?": verifying or signing an entry,
signing a batch record, releasing or rejecting a batch, closing a deviation. A person is
every account whose printed name reads the same (:func:`cellbatch.domain.people.person_key`),
so a second account for the same person never counts as a second person.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session

from cellbatch.db.database import Database
from cellbatch.db.tables import (
    AuditEntry,
    Batch,
    Correction,
    Deviation,
    QcResult,
    Signature,
    StepEntry,
    User,
)
from cellbatch.domain.people import person_key
from cellbatch.services.batch_access import find_batch
from cellbatch.services.queries.signatures import entry_authors, ref_of

INVESTIGATION_FIELDS = ("investigation", "root_cause", "capa")
"""The parts of a deviation whose writers are its investigators."""


def same_person(session: Session, user_id: int) -> set[int]:
    """Every account of the person who holds ``user_id`` (by printed name), itself included."""
    me = session.get(User, user_id)
    if me is None:
        return {user_id}
    key = person_key(me.full_name)
    return {user_id} | {
        uid
        for uid, name in session.execute(select(User.id, User.full_name))
        if person_key(name) == key
    }


def account_for_name(session: Session, full_name: str) -> tuple[str, str] | None:
    """User ID and printed name of an account whose name reads like ``full_name``, if any."""
    key = person_key(full_name)
    for username, name in session.execute(select(User.username, User.full_name)):
        if person_key(name) == key:
            return username, name
    return None


def is_entry_author(
    session: Session, batch: Batch, entity: str, entity_id: int, user_id: int
) -> bool:
    """True when the person holding ``user_id`` recorded or corrected the entry."""
    return bool(same_person(session, user_id) & entry_authors(session, batch, entity, entity_id))


def deviation_investigators(session: Session, deviation_id: int) -> set[int]:
    """Everyone who wrote a deviation's investigation, root cause or CAPA (from its audit trail)."""
    return set(
        session.execute(
            select(AuditEntry.user_id).where(
                AuditEntry.entity == "deviation",
                AuditEntry.entity_id == str(deviation_id),
                AuditEntry.field.in_(INVESTIGATION_FIELDS),
                AuditEntry.user_id.is_not(None),
            )
        ).scalars()
    )


def involvement(session: Session, batch: Batch, user_id: int) -> list[str]:
    """What a person started, recorded, corrected, performed, verified or investigated in a batch.

    Empty: nothing, and the person may review, release or reject it.
    """
    me = same_person(session, user_id)
    found: list[str] = []
    if batch.recorded_by in me:
        found.append("started the batch")
    for (entry_id,) in session.execute(
        select(StepEntry.id).where(StepEntry.batch_id == batch.id, StepEntry.recorded_by.in_(me))
    ):
        found.append(f"recorded {ref_of('step_entry', entry_id)}")
    for (result_id,) in session.execute(
        select(QcResult.id).where(QcResult.batch_id == batch.id, QcResult.recorded_by.in_(me))
    ):
        found.append(f"recorded {ref_of('qc_result', result_id)}")
    for entity, entity_id in session.execute(
        select(Correction.entity, Correction.entity_id).where(
            Correction.batch_id == batch.id, Correction.corrected_by.in_(me)
        )
    ):
        found.append(f"corrected {ref_of(entity, entity_id)}")
    for meaning, entity, entity_id in session.execute(
        select(Signature.meaning, Signature.entity, Signature.entity_id).where(
            Signature.batch_id == batch.id,
            Signature.signer_id.in_(me),
            Signature.meaning.in_(("performed", "verified")),
        )
    ):
        found.append(f"{meaning} {ref_of(entity, entity_id)}")
    dev_ids = list(
        session.execute(
            select(Deviation.id).where(Deviation.batch_id == batch.id).order_by(Deviation.id)
        ).scalars()
    )
    investigated = set()
    if dev_ids:  # one statement for all the batch's deviations
        investigated = set(
            session.execute(
                select(AuditEntry.entity_id).where(
                    AuditEntry.entity == "deviation",
                    AuditEntry.entity_id.in_([str(i) for i in dev_ids]),
                    AuditEntry.field.in_(INVESTIGATION_FIELDS),
                    AuditEntry.user_id.in_(me),
                )
            ).scalars()
        )
    for dev_id in dev_ids:
        if str(dev_id) in investigated:
            found.append(f"investigated {ref_of('deviation', dev_id)}")
    return found


def involvement_of(db: Database, code: str, user_id: int) -> list[str]:
    """What a person did on a batch that bars them from releasing or rejecting it."""
    with db.session() as session:
        return involvement(session, find_batch(session, code), user_id)


def involvement_text(involved: list[str]) -> str:
    """The first few things a person did, for a refusal message."""
    return ", ".join(involved[:5]) + (" …" if len(involved) > 5 else "")
