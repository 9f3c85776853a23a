"""Registering recipients, their body weights and their identifying data; reading who they are.

The clinic registers each recipient under a pseudonymous ID before any dose is made for them
(``commands.batches.start_dose`` refuses an unregistered one). Identifying data are kept in a
table of their own, written and read by the clinic (read by QA too), redacted in the audit
trail, and each reading of them is itself an audit entry: who looked at whose identity, when.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from cellbatch import units
from cellbatch.db.database import Database
from cellbatch.db.tables import Donor, Recipient, RecipientIdentity, RecipientWeight
from cellbatch.domain import recipients as rules
from cellbatch.domain.errors import NotFound, RuleViolation
from cellbatch.domain.text import CODE, typed_text
from cellbatch.domain.users import CLINIC_ROLES, IDENTITY_ROLES, Actor
from cellbatch.services.queries.recipients import IdentityView, find_recipient
from cellbatch.services.unit_of_work import UnitOfWork


def _weight(uow: UnitOfWork, recipient: Recipient, kg: float, weighed_on: date) -> None:
    rules.not_future(weighed_on, uow.now.date(), "--weighed-on", "the day of weighing")
    uow.add(
        RecipientWeight(
            recipient_id=recipient.id,
            weight_kg=kg,
            measured_on=weighed_on,
            recorded_at=uow.now,
            recorded_by=uow.actor.id,  # type: ignore[union-attr]
        )
    )


def register_recipient(
    db: Database,
    actor: Actor,
    code: str,
    *,
    trial: str,
    cohort: int,
    weight: str,
    weighed_on: date,
    donor: str | None = None,
) -> str:
    """Register a recipient: pseudonymous ID, trial, cohort, first body weight, related donor."""
    actor.require(*CLINIC_ROLES, action="register recipients")
    code = rules.recipient_id(code, "RECIPIENT")
    trial = CODE.check(trial, "--trial", what="the trial's code")
    cohort = rules.cohort(cohort)
    kg = rules.body_weight(units.parse(weight, "mass_body", field="--weight"))
    with UnitOfWork(db, actor) as uow:
        if uow.session.execute(select(Recipient.id).where(Recipient.code == code)).first():
            raise RuleViolation(f"recipient {code} is registered already")
        donor_id = None
        if donor is not None:
            wanted = CODE.check(donor, "--donor", what="the related donor's code")
            found = uow.session.execute(
                select(Donor).where(Donor.code == wanted)
            ).scalar_one_or_none()
            if found is None:
                raise NotFound(f"--donor: no donor {wanted}")
            donor_id = found.id
        recipient = uow.add(
            Recipient(
                code=code,
                trial=trial,
                cohort=cohort,
                donor_id=donor_id,
                registered_at=uow.now,
                registered_by=actor.id,
            )
        )
        _weight(uow, recipient, kg, weighed_on)
        uow.commit()
        return code


def record_weight(db: Database, actor: Actor, code: str, *, weight: str, weighed_on: date) -> float:
    """Record a new body weight of a recipient (the next dose is made for it); returns kg."""
    actor.require(*CLINIC_ROLES, action="record recipients' body weights")
    kg = rules.body_weight(units.parse(weight, "mass_body", field="--weight"))
    with UnitOfWork(db, actor) as uow:
        recipient = find_recipient(uow.session, code, lock=True)
        _weight(uow, recipient, kg, weighed_on)
        uow.commit()
        return kg


def set_identity(
    db: Database,
    actor: Actor,
    code: str,
    *,
    name: str,
    born: date,
    hospital_number: str,
    reason: str | None = None,
) -> None:
    """Record (or correct, with a reason) who a recipient is; the clinic only."""
    actor.require(*CLINIC_ROLES, action="record who a recipient is")
    name = rules.patient_name(name)
    hospital_number = rules.HOSPITAL_NUMBER.check(hospital_number, "--hospital-number")
    with UnitOfWork(db, actor) as uow:
        born = rules.birth_date(born, uow.now.date())
        recipient = find_recipient(uow.session, code, lock=True)
        taken = uow.session.execute(
            select(Recipient.code)
            .join(RecipientIdentity, RecipientIdentity.recipient_id == Recipient.id)
            .where(
                RecipientIdentity.patient_hospital_number == hospital_number,
                Recipient.id != recipient.id,
            )
        ).scalar_one_or_none()
        if taken is not None:
            raise RuleViolation(
                f"--hospital-number: this hospital number is recorded for recipient {taken} "
                "already; one patient is one recipient"
            )
        identity = uow.session.execute(
            select(RecipientIdentity).where(RecipientIdentity.recipient_id == recipient.id)
        ).scalar_one_or_none()
        if identity is None:
            uow.add(
                RecipientIdentity(
                    recipient_id=recipient.id,
                    patient_name=name,
                    patient_birth_date=born,
                    patient_hospital_number=hospital_number,
                    recorded_at=uow.now,
                    recorded_by=actor.id,
                )
            )
        else:
            if reason is None:
                raise RuleViolation(
                    f"--reason: {recipient.code}'s identity is on file; a correction needs "
                    "the reason for it"
                )
            reason = typed_text(reason, "--reason", what="the reason for the correction")
            for column, value in (
                ("patient_name", name),
                ("patient_birth_date", born),
                ("patient_hospital_number", hospital_number),
            ):
                if getattr(identity, column) != value:
                    uow.change(identity, column, value, reason=reason, action="correct")
        uow.commit()


def show_identity(db: Database, actor: Actor, code: str) -> IdentityView:
    """Who a recipient is, for the clinic and QA; the reading is recorded in the audit trail.

    Nothing is shown unless its reading is on record (the entry commits first).
    """
    actor.require(*IDENTITY_ROLES, action="see who a recipient is")
    with UnitOfWork(db, actor) as uow:
        recipient = find_recipient(uow.session, code)
        identity = uow.session.execute(
            select(RecipientIdentity).where(RecipientIdentity.recipient_id == recipient.id)
        ).scalar_one_or_none()
        if identity is None:
            raise NotFound(f"no identifying data on file for recipient {recipient.code}")
        uow.audit(
            "view",
            identity,
            new_value=f"identity of recipient {recipient.code} shown to {actor.username}",
        )
        view = IdentityView(
            recipient=recipient.code,
            name=identity.patient_name,
            born=identity.patient_birth_date,
            hospital_number=identity.patient_hospital_number,
        )
        uow.commit()
        return view
