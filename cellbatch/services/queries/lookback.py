"""Look-back: every product made from a donation, forward to the recipients, and back again.

Forward from a donor (or a tissue lot, a material lot or a bank): the banks made from it, their
vials, the dose batches made from those banks, their bags and the recipients. Backward from a
bag (or a dose batch): its bank, vials, tissue lot and donor, and every material lot used in
any step of the dose or its bank. Holds (new donor information, a recall) use the same reading,
so that what a recall holds is exactly what the look-back lists (GMP-31).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from cellbatch.db.database import Database
from cellbatch.db.tables import (
    Bag,
    Batch,
    Donor,
    InfusionRecord,
    MaterialLot,
    MaterialUse,
    StepEntry,
    TissueLot,
    Vial,
)
from cellbatch.domain import bedside
from cellbatch.domain.errors import InvalidInput, NotFound
from cellbatch.domain.text import CODE, SUPPLIER_LOT
from cellbatch.domain.timeparse import as_utc, iso_utc
from cellbatch.services.batch_access import find_batch

NOT_GIVEN_YET = "not given yet"
"""The fate of a bag with no infusion record."""

ORIGINS = ("donor", "tissue-lot", "material-lot", "bank")
"""What a forward look-back starts from."""


def banks_of_lots(session: Session, lot_ids: list[int]) -> list[Batch]:
    """The banks (expansion batches) made from these tissue lots, oldest first."""
    if not lot_ids:
        return []
    return list(
        session.execute(
            select(Batch).where(Batch.tissue_lot_id.in_(lot_ids)).order_by(Batch.id)
        ).scalars()
    )


def doses_of_banks(session: Session, bank_ids: list[int]) -> list[Batch]:
    """The dose batches made from these banks, oldest first."""
    if not bank_ids:
        return []
    return list(
        session.execute(
            select(Batch).where(Batch.parent_batch_id.in_(bank_ids)).order_by(Batch.id)
        ).scalars()
    )


def donor_batches(session: Session, donor_id: int) -> list[Batch]:
    """Every bank and dose batch made from a donor's donations (banks first)."""
    lots = list(
        session.execute(select(TissueLot.id).where(TissueLot.donor_id == donor_id)).scalars()
    )
    banks = banks_of_lots(session, lots)
    return banks + doses_of_banks(session, [b.id for b in banks])


def _batches_using_material(session: Session, lot_id: int) -> list[Batch]:
    """Every batch with a step that used this material lot."""
    return list(
        session.execute(
            select(Batch)
            .join(StepEntry, StepEntry.batch_id == Batch.id)
            .join(MaterialUse, MaterialUse.step_entry_id == StepEntry.id)
            .where(MaterialUse.material_lot_id == lot_id)
            .distinct()
            .order_by(Batch.id)
        ).scalars()
    )


def origin_batches(session: Session, origin: str, ref: str) -> tuple[str, list[Batch]]:
    """What a forward look-back from ``origin`` ``ref`` reaches: its name, banks then doses.

    A dose batch reached directly (a material lot used in its thaw or fill) is listed with the
    doses; a bank reached brings every dose made from it.
    """
    if origin not in ORIGINS:
        raise InvalidInput("FROM", f"expected one of {', '.join(ORIGINS)}, got {origin!r}")
    if origin == "donor":
        code = CODE.check(ref, "REF", what="a donor code")
        donor = session.execute(select(Donor).where(Donor.code == code)).scalar_one_or_none()
        if donor is None:
            raise NotFound(f"no donor {code}")
        return f"donor {donor.code}", donor_batches(session, donor.id)
    if origin == "tissue-lot":
        code = CODE.check(ref, "REF", what="a tissue lot number")
        lot = session.execute(
            select(TissueLot).where(TissueLot.lot_number == code)
        ).scalar_one_or_none()
        if lot is None:
            raise NotFound(f"no tissue lot {code}")
        banks = banks_of_lots(session, [lot.id])
        doses = doses_of_banks(session, [b.id for b in banks])
        return f"tissue lot {lot.lot_number}", banks + doses
    if origin == "material-lot":
        number = SUPPLIER_LOT.check(ref, "REF")
        lot = session.execute(
            select(MaterialLot).where(MaterialLot.lot_number == number)
        ).scalar_one_or_none()
        if lot is None:
            raise NotFound(f"no material lot {number}")
        used = _batches_using_material(session, lot.id)
        banks = [b for b in used if b.kind == "expansion"]
        doses = {b.id: b for b in used if b.kind == "dose"}
        for dose in doses_of_banks(session, [b.id for b in banks]):
            doses.setdefault(dose.id, dose)
        return f"material lot {lot.lot_number}", banks + sorted(doses.values(), key=lambda b: b.id)
    bank = find_batch(session, ref)
    if bank.kind != "expansion":
        raise InvalidInput("REF", f"{bank.code} is a dose batch, not a bank")
    return f"bank {bank.code}", [bank, *doses_of_banks(session, [bank.id])]


@dataclass(frozen=True)
class VialItem:
    """A vial of a bank and what became of it."""

    bank: str
    number: int
    location: str
    state: str


@dataclass(frozen=True)
class BatchItem:
    """A bank or dose batch reached, with its status and (a dose) its recipient."""

    batch: str
    kind: str
    status: str
    recipient: str | None
    infusion: int | None
    parent: str | None


@dataclass(frozen=True)
class BagItem:
    """A bag of a dose batch, by DIN and product code, and what became of it."""

    batch: str
    number: int
    din: str
    product_code: str
    recipient: str | None
    fate: str = NOT_GIVEN_YET
    """From its infusion record: ``infused``, ``partly infused``, ``not infused``,
    ``discarded``, or :data:`NOT_GIVEN_YET`."""
    infusion_record: str | None = None
    """``IR<n>``, the record the fate is read from."""
    given_at: str | None = None
    """When the infusion started (a bag infused or partly infused)."""

    @property
    def given(self) -> bool:
        """Whether (some of) the bag went into its recipient."""
        return self.fate in (f.replace("-", " ") for f in bedside.GIVEN)

    def fate_text(self) -> str:
        """``infused at 2026-… (IR1)``, ``discarded (IR2)``, ``not given yet``."""
        if self.infusion_record is None:
            return self.fate
        at = f" at {self.given_at}" if self.given_at else ""
        return f"{self.fate}{at} ({self.infusion_record})"


@dataclass(frozen=True)
class Lookback:
    """A forward look-back: everything made from one origin, down to the recipients."""

    origin: str
    banks: list[BatchItem] = field(default_factory=list)
    vials: list[VialItem] = field(default_factory=list)
    doses: list[BatchItem] = field(default_factory=list)
    bags: list[BagItem] = field(default_factory=list)

    @property
    def recipients(self) -> list[str]:
        """Every recipient of a dose reached, each once."""
        return sorted({d.recipient for d in self.doses if d.recipient})

    @property
    def given(self) -> list[BagItem]:
        """The bags reached that were (partly) infused: their recipients received the product."""
        return [b for b in self.bags if b.given]

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON output (each bag with its ``fate`` and ``given``)."""
        data = asdict(self)
        for bag, item in zip(data["bags"], self.bags, strict=True):
            bag["given"] = item.given
        data["recipients"] = self.recipients
        data["infused_recipients"] = sorted({b.recipient for b in self.given if b.recipient})
        return data


def _item(batch: Batch, codes: dict[int, str]) -> BatchItem:
    return BatchItem(
        batch=batch.code,
        kind=batch.kind,
        status=batch.status,
        recipient=batch.recipient_id,
        infusion=batch.infusion_number,
        parent=codes.get(batch.parent_batch_id) if batch.parent_batch_id else None,
    )


def _vials(session: Session, banks: list[Batch]) -> list[VialItem]:
    if not banks:
        return []
    codes = {b.id: b.code for b in banks}
    rows = session.execute(
        select(Vial, StepEntry.batch_id)
        .outerjoin(StepEntry, StepEntry.id == Vial.thaw_entry_id)
        .where(Vial.batch_id.in_(list(codes)))
        .order_by(Vial.batch_id, Vial.number)
    ).all()
    thawed_into = {
        b.id: b.code
        for b in session.execute(
            select(Batch).where(Batch.id.in_({t for _v, t in rows if t is not None} or {-1}))
        ).scalars()
    }
    return [
        VialItem(
            bank=codes[v.batch_id],
            number=v.number,
            location=v.location,
            state=f"thawed for {thawed_into[t]}" if t is not None else "in stock",
        )
        for v, t in rows
    ]


def _bags(session: Session, doses: list[Batch]) -> list[BagItem]:
    if not doses:
        return []
    by_id = {d.id: d for d in doses}
    records = {
        r.bag_id: r
        for r in session.execute(
            select(InfusionRecord).where(InfusionRecord.batch_id.in_(list(by_id)))
        ).scalars()
    }
    items = []
    for bag in session.execute(
        select(Bag).where(Bag.batch_id.in_(list(by_id))).order_by(Bag.batch_id, Bag.number)
    ).scalars():
        record = records.get(bag.id)
        given = record is not None and record.fate in bedside.GIVEN and record.started_at
        items.append(
            BagItem(
                batch=by_id[bag.batch_id].code,
                number=bag.number,
                din=bag.din,
                product_code=bag.product_code,
                recipient=by_id[bag.batch_id].recipient_id,
                fate=record.fate.replace("-", " ") if record else NOT_GIVEN_YET,
                infusion_record=f"IR{record.id}" if record else None,
                given_at=iso_utc(as_utc(record.started_at)) if given else None,
            )
        )
    return items


def forward_in(session: Session, origin: str, ref: str) -> tuple[Lookback, list[Batch]]:
    """The look-back from an origin, and the batches it reaches (what a recall holds)."""
    name, reached = origin_batches(session, origin, ref)
    codes = {b.id: b.code for b in reached}
    parents = {b.parent_batch_id for b in reached if b.parent_batch_id} - set(codes)
    if parents:
        codes.update(
            dict(session.execute(select(Batch.id, Batch.code).where(Batch.id.in_(parents))).all())
        )
    banks = [b for b in reached if b.kind == "expansion"]
    doses = [b for b in reached if b.kind == "dose"]
    view = Lookback(
        origin=name,
        banks=[_item(b, codes) for b in banks],
        vials=_vials(session, banks),
        doses=[_item(b, codes) for b in doses],
        bags=_bags(session, doses),
    )
    return view, reached


def forward(db: Database, origin: str, ref: str) -> Lookback:
    """Every bank, vial, dose batch, bag and recipient made from an origin (GMP-31)."""
    with db.session() as session:
        return forward_in(session, origin, ref)[0]


@dataclass(frozen=True)
class MaterialItem:
    """A material lot used in a step of a batch."""

    batch: str
    step: str
    role: str
    lot: str
    name: str
    expires_on: str


@dataclass(frozen=True)
class Traceback:
    """A backward look-back: from a bag or dose batch to its donor and every material."""

    bag: str | None
    dose: str
    recipient: str | None
    bank: str | None
    vials: list[str]
    tissue_lot: str | None
    din: str | None
    donor: str | None
    materials: list[MaterialItem] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON output."""
        return asdict(self)


def _materials(session: Session, batches: list[Batch]) -> list[MaterialItem]:
    codes = {b.id: b.code for b in batches}
    rows = session.execute(
        select(StepEntry, MaterialUse, MaterialLot)
        .join(MaterialUse, MaterialUse.step_entry_id == StepEntry.id)
        .join(MaterialLot, MaterialLot.id == MaterialUse.material_lot_id)
        .where(StepEntry.batch_id.in_(list(codes)))
        .order_by(StepEntry.batch_id, StepEntry.performed_at, MaterialUse.id)
    ).all()
    return [
        MaterialItem(
            batch=codes[step.batch_id],
            step=f"E{step.id} {step.kind}" + (f" P{step.passage}" if step.passage else ""),
            role=use.role,
            lot=lot.lot_number,
            name=lot.name,
            expires_on=lot.expires_on.isoformat(),
        )
        for step, use, lot in rows
    ]


def backward(db: Database, batch: str, bag: int | None = None) -> Traceback:
    """From a bag (or a dose batch) back to its bank, vials, tissue lot, donor and materials."""
    with db.session() as session:
        dose = find_batch(session, batch)
        chosen = None
        if bag is not None:
            chosen = session.execute(
                select(Bag).where(Bag.batch_id == dose.id, Bag.number == bag)
            ).scalar_one_or_none()
            if chosen is None:
                raise NotFound(f"--bag: {dose.code} has no bag {bag}")
        bank = session.get(Batch, dose.parent_batch_id) if dose.parent_batch_id else None
        source = bank or dose
        lot = session.get(TissueLot, source.tissue_lot_id) if source.tissue_lot_id else None
        donor = session.get(Donor, lot.donor_id) if lot else None
        vials = [
            f"{bank.code if bank else '?'} vial {v.number} ({v.location})"
            for v in session.execute(
                select(Vial)
                .join(StepEntry, StepEntry.id == Vial.thaw_entry_id)
                .where(StepEntry.batch_id == dose.id)
                .order_by(Vial.number)
            ).scalars()
        ]
        return Traceback(
            bag=f"bag {chosen.number} ({chosen.din} {chosen.product_code})" if chosen else None,
            dose=dose.code,
            recipient=dose.recipient_id,
            bank=bank.code if bank else None,
            vials=vials,
            tissue_lot=lot.lot_number if lot else None,
            din=lot.din if lot else None,
            donor=donor.code if donor else None,
            materials=_materials(session, [b for b in (bank, dose) if b is not None]),
        )
