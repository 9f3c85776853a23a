"""Reading recipients: the pseudonymous record (ID, trial, cohort, weights, donor, doses).

Nothing here reads identifying data: who a recipient is comes only from
``services.commands.recipients.show_identity``, for the clinic and QA, and each reading is
recorded in the audit trail.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from cellbatch.db.database import Database
from cellbatch.db.tables import (
    Batch,
    Donor,
    Recipient,
    RecipientIdentity,
    RecipientWeight,
    TissueLot,
)
from cellbatch.domain.errors import NotFound, RuleViolation
from cellbatch.domain.recipients import recipient_id
from cellbatch.domain.timeparse import iso_utc


def find_recipient(
    session: Session, code: str, field: str = "RECIPIENT", *, lock: bool = False
) -> Recipient:
    """The registered recipient ``code``; refused naming ``field`` when malformed or unknown.

    An unknown ID names the registered IDs that look like it (``EB-P001`` for ``EB-P01``).
    """
    wanted = recipient_id(code, field)
    query = select(Recipient).where(Recipient.code == wanted)
    if lock:
        query = query.with_for_update()
    found = session.execute(query).scalar_one_or_none()
    if found is None:
        known = list(session.execute(select(Recipient.code)).scalars())
        near = difflib.get_close_matches(wanted, known, n=3, cutoff=0.7)
        hint = f" (did you mean {' or '.join(near)}?)" if near else ""
        raise NotFound(
            f"{field}: no registered recipient {wanted}{hint}; a dose is made only for a "
            "recipient the clinic registered (cellbatch recipient list / register)"
        )
    return found


def latest_weight(session: Session, recipient: Recipient) -> RecipientWeight | None:
    """The recipient's newest body weight (by date weighed, then by when recorded)."""
    return (
        session.execute(
            select(RecipientWeight)
            .where(RecipientWeight.recipient_id == recipient.id)
            .order_by(RecipientWeight.measured_on.desc(), RecipientWeight.id.desc())
            .limit(1)
        )
        .scalars()
        .first()
    )


def directed_donor_only(session: Session, bank: Batch, recipient: Recipient) -> None:
    """Refuse a dose from a directed donation's bank for anyone but its linked recipient.

    A donor found ineligible but allowed for a related recipient (``ineligible-related``)
    gave for one person: the recipient registered with that donor.
    """
    donor = session.execute(
        select(Donor)
        .join(TissueLot, TissueLot.donor_id == Donor.id)
        .where(TissueLot.id == bank.tissue_lot_id)
    ).scalar_one_or_none()
    if donor is None or donor.eligibility != "ineligible-related":
        return
    if recipient.donor_id != donor.id:
        raise RuleViolation(
            f"--recipient: bank {bank.code} is from donor {donor.code} ({donor.relationship}, "
            f"ineligible-related): a directed donation, used only for the recipient "
            f"registered with that donor, not for {recipient.code}"
        )


@dataclass(frozen=True)
class WeightView:
    """One weighing."""

    weight_kg: float
    measured_on: str
    recorded_at: str | None


@dataclass(frozen=True)
class RecipientView:
    """A recipient as the cleanroom may see it: pseudonymous, never who the person is."""

    code: str
    trial: str
    cohort: int
    donor: str | None
    weight_kg: float | None
    weighed_on: str | None
    identity_on_file: bool
    registered_at: str | None
    weights: list[WeightView] = field(default_factory=list)
    dose_batches: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON output."""
        return asdict(self)


def _view(session: Session, r: Recipient, *, full: bool) -> RecipientView:
    donor = session.get(Donor, r.donor_id) if r.donor_id else None
    weights = list(
        session.execute(
            select(RecipientWeight)
            .where(RecipientWeight.recipient_id == r.id)
            .order_by(RecipientWeight.measured_on.desc(), RecipientWeight.id.desc())
        ).scalars()
    )
    identity = session.execute(
        select(RecipientIdentity.id).where(RecipientIdentity.recipient_id == r.id)
    ).first()
    doses: list[dict[str, Any]] = []
    if full:
        for b in session.execute(
            select(Batch).where(Batch.recipient_id == r.code).order_by(Batch.id)
        ).scalars():
            doses.append({"batch": b.code, "infusion": b.infusion_number, "status": b.status})
    return RecipientView(
        code=r.code,
        trial=r.trial,
        cohort=r.cohort,
        donor=donor.code if donor else None,
        weight_kg=weights[0].weight_kg if weights else None,
        weighed_on=weights[0].measured_on.isoformat() if weights else None,
        identity_on_file=identity is not None,
        registered_at=iso_utc(r.registered_at),
        weights=[
            WeightView(w.weight_kg, w.measured_on.isoformat(), iso_utc(w.recorded_at))
            for w in weights
        ]
        if full
        else [],
        dose_batches=doses,
    )


def recipient_view(db: Database, code: str) -> RecipientView:
    """One recipient with every weighing and dose batch."""
    with db.session() as session:
        return _view(session, find_recipient(session, code), full=True)


def recipient_list(db: Database) -> list[RecipientView]:
    """Every registered recipient, by ID."""
    with db.session() as session:
        rows = list(session.execute(select(Recipient).order_by(Recipient.code)).scalars())
        return [_view(session, r, full=False) for r in rows]


@dataclass(frozen=True)
class IdentityView:
    """Who a recipient is (clinic and QA only; each reading is in the audit trail)."""

    recipient: str
    name: str
    born: date
    hospital_number: str

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON output."""
        data = asdict(self)
        data["born"] = self.born.isoformat()
        return data
