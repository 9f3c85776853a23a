"""What the accompanying document of an issued bag says (read from the record, nothing typed).

Product, DIN and product code, the therapy's chain-of-identity identifier, the recipient ID
(never who the recipient is), who released the batch and when, storage and infusion
instructions and the expiry. Only an issued bag has one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from cellbatch import isbt128
from cellbatch.db.database import Database
from cellbatch.db.tables import Bag, BagCustody, Recipient, ReleaseDecision, TreatmentPlan, User
from cellbatch.domain.coi import parse_coi
from cellbatch.domain.errors import NotFound, RuleViolation
from cellbatch.domain.timeparse import as_utc, iso_utc
from cellbatch.services.batch_access import find_batch
from cellbatch.services.queries.sops import sop_of
from cellbatch.services.queries.storage import bag_storage

DOCUMENT_FLAGS = "11"
"""The flag characters of the DIN bar code on the accompanying document: ISBT 128 type 1 flag
``11``, "match with unit label" (ST-001 Table 3). A document is not the bag: its DIN must not
read as the label in force (final label: 60 + check value), nor as the bag's other labels
(quarantine 20–59, reprint 05); ``11`` says it is a paper to be matched with the bag's label
(docs/labels.md, "The accompanying document's DIN")."""


def storage_instruction(label_text: str, storage_range: str) -> str:
    """The document's storage text: the label's own, then how the bag travels."""
    return (
        f"{label_text} In transit: at {storage_range} in its validated shipper, with its "
        "temperature logger if one is packed. Do not irradiate."
    )


INFUSION = (
    "Bedside check by two people (wristband against this bag) before the infusion; infuse "
    "intravenously through a standard filter-free line, without a leukocyte filter, before the "
    "expiry; record the infusion, any reaction and the bag's fate."
)


@dataclass(frozen=True)
class AccompanyingDocument:
    """The content of one bag's accompanying document."""

    batch: str
    bag: int
    product: str
    din: str
    """The DIN's 13 characters."""
    din_eye_readable: str
    """``A9999 26 000001``, printed with :attr:`din_flags` and the boxed :attr:`din_check`."""
    din_check: str
    din_flags: str
    """:data:`DOCUMENT_FLAGS`, printed turned beside the DIN (type 1 flags are)."""
    din_data: str
    """What the document's DIN bar code carries: ``=A99992600000111``."""
    product_code: str
    coi: str | None
    coi_eye_readable: str | None
    coi_check: str | None
    recipient: str
    infusion: int | None
    released_by: str
    released_at: str
    expires_at: str
    storage: str
    instructions: str


def accompanying_document(db: Database, code: str, bag_number: int = 1) -> AccompanyingDocument:
    """The document of an issued bag; refused before the bag is issued."""
    with db.session() as session:
        batch = find_batch(session, code)
        bag = session.execute(
            select(Bag).where(Bag.batch_id == batch.id, Bag.number == bag_number)
        ).scalar_one_or_none()
        if bag is None:
            raise NotFound(f"--bag: {batch.code} has no bag {bag_number}")
        if not session.execute(select(BagCustody.id).where(BagCustody.bag_id == bag.id)).first():
            raise RuleViolation(
                f"{batch.code} bag {bag.number} is not issued: the document goes with an "
                "issued bag (cellbatch custody issue)"
            )
        decision = session.execute(
            select(ReleaseDecision, User)
            .join(User, User.id == ReleaseDecision.decided_by)
            .where(ReleaseDecision.batch_id == batch.id, ReleaseDecision.decision == "release")
        ).first()
        plan = session.execute(
            select(TreatmentPlan)
            .join(Recipient, Recipient.id == TreatmentPlan.recipient_id)
            .where(Recipient.code == batch.recipient_id)
        ).scalar_one_or_none()
        coi = parse_coi(plan.coi) if plan is not None and plan.coi else None
        released, releaser = decision
        storage = bag_storage(session, bag)
        din = isbt128.Din.from_code(bag.din)
        return AccompanyingDocument(
            batch=batch.code,
            bag=bag.number,
            product=sop_of(session, batch).product_name,
            din=bag.din,
            din_eye_readable=din.eye_readable,
            din_check=din.check,
            din_flags=DOCUMENT_FLAGS,
            din_data=din.data_structure(DOCUMENT_FLAGS),
            product_code=bag.product_code,
            coi=coi.code if coi else None,
            coi_eye_readable=coi.eye_readable() if coi else None,
            coi_check=coi.check if coi else None,
            recipient=batch.recipient_id or "",
            infusion=batch.infusion_number,
            released_by=f"{releaser.full_name} ({releaser.username})",
            released_at=iso_utc(as_utc(released.decided_at)),
            expires_at=iso_utc(as_utc(bag.expires_at)),
            storage=storage_instruction(storage.instruction, storage.range.text()),
            instructions=INFUSION,
        )
