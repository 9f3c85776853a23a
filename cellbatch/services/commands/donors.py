"""Donors, their marker tests and eligibility; tissue lots (with their DIN); material lots.

New information about a donor holds every product made from them (GMP-29): a reactive marker
result, or an eligible donor determined ineligible, puts each bank, dose batch and bag from
the donor on hold in the same transaction (``commands.holds``); an eligible donor made pending
again holds the released ones (unreleased product stays in quarantine until the donor is
determined, by the release checklist).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import func, select

from cellbatch import isbt128
from cellbatch.db.database import Database
from cellbatch.db.tables import DinCounter, Donor, DonorTest, MaterialLot, TissueLot
from cellbatch.domain import plausible
from cellbatch.domain.errors import InvalidInput, NotFound, RuleViolation
from cellbatch.domain.sop import MATERIAL_KINDS
from cellbatch.domain.text import CODE, SUPPLIER_LOT, typed_text
from cellbatch.domain.users import RECORDING_ROLES, Actor, Role
from cellbatch.services.commands.holds import place_hold
from cellbatch.services.queries.donors import reactive_markers
from cellbatch.services.queries.lookback import donor_batches
from cellbatch.services.unit_of_work import UnitOfWork
from cellbatch.site import load_site_settings

ELIGIBILITY = ("eligible", "ineligible-related", "pending")
"""Donor eligibility: eligible; ineligible but allowed for a related recipient; pending."""
MARKER_RESULTS = ("negative", "reactive")
"""Results of an infectious-disease marker test."""
TISSUES = {"bone-marrow": "mL", "adipose": "g"}
"""Tissue sources and the unit their amount is recorded in."""


def _code(text: str, field: str) -> str:
    return CODE.check(text, field, what="a pseudonymous code (never a name)")


def _find_donor(uow: UnitOfWork, code: str) -> Donor:
    donor = uow.session.execute(
        select(Donor).where(Donor.code == code.strip().upper()).with_for_update()
    ).scalar_one_or_none()
    if donor is None:
        raise NotFound(f"no donor {code.strip()!r}")
    return donor


def add_donor(
    db: Database, actor: Actor, code: str, *, relationship: str, sex: str, birth_year: int
) -> str:
    """Register a donor by pseudonymous code; eligibility starts as pending."""
    actor.require(*RECORDING_ROLES, action="register donors")
    code = _code(code, "CODE")
    if sex not in ("F", "M"):
        raise InvalidInput("--sex", f"expected F or M, got {sex!r}")
    relationship = typed_text(
        relationship,
        "--relationship",
        what="the relationship to the recipient, e.g. mother or unrelated",
        one_line=True,
    )
    with UnitOfWork(db, actor) as uow:
        if not 1900 <= birth_year <= uow.now.year:
            raise InvalidInput(
                "--birth-year", f"expected a year between 1900 and {uow.now.year}, got {birth_year}"
            )
        if uow.session.execute(select(Donor).where(Donor.code == code)).first():
            raise RuleViolation(f"donor {code} exists already")
        uow.add(
            Donor(
                code=code,
                relationship=relationship,
                sex=sex,
                birth_year=birth_year,
                created_at=uow.now,
            )
        )
        uow.commit()
    return code


def record_donor_test(
    db: Database, actor: Actor, code: str, *, marker: str, result: str, sampled: date
) -> None:
    """Record an infectious-disease marker result with its sample date."""
    actor.require(*RECORDING_ROLES, Role.QA, action="record donor tests")
    if result not in MARKER_RESULTS:
        raise InvalidInput("--result", f"expected negative or reactive, got {result!r}")
    marker = typed_text(marker, "--marker", what="the marker name, e.g. HIV-1/2 Ab", one_line=True)
    with UnitOfWork(db, actor) as uow:
        donor = _find_donor(uow, code)
        plausible.sample_date(sampled, uow.now.date(), donor.birth_year)
        uow.add(
            DonorTest(
                donor_id=donor.id,
                marker=marker,
                result=result,
                sampled_on=sampled,
                recorded_at=uow.now,
                recorded_by=actor.id,
            )
        )
        if result == "reactive":
            if donor.eligibility == "eligible":
                # an eligible donor with a reactive result must be determined again
                uow.change(
                    donor,
                    "eligibility",
                    "pending",
                    reason=f"reactive {marker} result recorded: eligibility to be determined",
                )
            place_hold(
                uow,
                cause="donor-result",
                reason=(
                    f"reactive {marker} result (sampled {sampled:%Y-%m-%d}) recorded for donor "
                    f"{donor.code}"
                ),
                batches=donor_batches(uow.session, donor.id),
                donor_id=donor.id,
            )
        uow.commit()


def set_eligibility(
    db: Database, actor: Actor, code: str, status: str, reason: str | None = None
) -> None:
    """Set the donor eligibility determination (a supervisor or QA decides it)."""
    actor.require(Role.SUPERVISOR, Role.QA, action="determine donor eligibility")
    if status not in ELIGIBILITY:
        raise InvalidInput("--status", f"expected one of {', '.join(ELIGIBILITY)}, got {status!r}")
    if reason is not None:
        reason = typed_text(reason, "--reason", what="the basis of the determination")
    with UnitOfWork(db, actor) as uow:
        donor = _find_donor(uow, code)
        reactive = reactive_markers(uow.session, donor) if status == "eligible" else []
        if reactive:
            raise InvalidInput(
                "--status",
                f"donor {donor.code} has a reactive {', '.join(reactive)} result: expected "
                "ineligible-related (for a related recipient) or pending, not eligible",
            )
        before = donor.eligibility
        if before != status:
            uow.change(donor, "eligibility", status, reason=reason or "eligibility determination")
        if before == "eligible" and status != "eligible":
            made = donor_batches(uow.session, donor.id)
            if status == "pending":  # unreleased product waits for the determination anyway
                made = [b for b in made if b.status == "released"]
            place_hold(
                uow,
                cause="donor-eligibility",
                reason=(
                    f"donor {donor.code} is no longer eligible ({status})"
                    + (f": {reason}" if reason else "")
                ),
                batches=made,
                donor_id=donor.id,
            )
        uow.commit()


def _next_din(uow: UnitOfWork, year: int) -> isbt128.Din:
    fin = load_site_settings().fin
    counter = uow.session.execute(
        select(DinCounter).where(DinCounter.fin == fin, DinCounter.year == year).with_for_update()
    ).scalar_one_or_none()
    if counter is None:
        counter = uow.add(DinCounter(fin=fin, year=year, last_sequence=0))
    sequence = counter.last_sequence + 1
    if sequence > 999_999:
        raise RuleViolation(f"DIN sequence for {fin} in {year} is exhausted")
    uow.change(counter, "last_sequence", sequence, reason="DIN assigned at tissue receipt")
    return isbt128.Din(fin=fin, year=year % 100, sequence=sequence)


def receive_tissue_lot(
    db: Database,
    actor: Actor,
    lot_number: str,
    *,
    donor_code: str,
    tissue: str,
    amount: float,
    collected: datetime,
    received: datetime | None = None,
    receipt_temperature: float | None = None,
) -> str:
    """Receive a donation and assign its DIN (FIN + year + a sequence that never repeats).

    ``amount`` is canonical (mL for marrow, g for adipose tissue). Returns the DIN.
    """
    actor.require(*RECORDING_ROLES, action="receive tissue")
    lot_number = _code(lot_number, "LOT")
    if tissue not in TISSUES:
        raise InvalidInput("--tissue", f"expected {' or '.join(TISSUES)}, got {tissue!r}")
    plausible.receipt_temperature(receipt_temperature)
    with UnitOfWork(db, actor) as uow:
        received = received or uow.now
        if received > uow.now:
            raise InvalidInput("--at", "the receipt time is in the future")
        donor = _find_donor(uow, donor_code)
        plausible.collection_time(collected, received, donor.birth_year)
        if uow.session.execute(select(TissueLot).where(TissueLot.lot_number == lot_number)).first():
            raise RuleViolation(f"tissue lot {lot_number} exists already")
        din = _next_din(uow, received.year)
        uow.add(
            TissueLot(
                lot_number=lot_number,
                donor_id=donor.id,
                tissue=tissue,
                amount=amount,
                amount_unit=TISSUES[tissue],
                collected_at=collected,
                received_at=received,
                receipt_temperature=receipt_temperature,
                din=din.code,
                recorded_at=uow.now,
                recorded_by=actor.id,
            )
        )
        uow.commit()
        return din.code


def add_material(
    db: Database, actor: Actor, lot_number: str, *, kind: str, name: str, expires: date
) -> None:
    """Register a lot of a reagent or consumable with its expiry."""
    actor.require(*RECORDING_ROLES, action="register material lots")
    lot_number = SUPPLIER_LOT.check(lot_number, "LOT")
    if kind not in MATERIAL_KINDS:
        raise InvalidInput("--kind", f"expected one of {', '.join(MATERIAL_KINDS)}, got {kind!r}")
    name = typed_text(name, "--name", what="the material's name", one_line=True)
    with UnitOfWork(db, actor) as uow:
        plausible.material_expiry(expires, uow.now.date())
        same = (
            uow.session.execute(
                select(MaterialLot.lot_number).where(
                    func.upper(MaterialLot.lot_number) == lot_number.upper()
                )
            )
            .scalars()
            .first()
        )
        if same is not None:
            also = f" as {same}: lot numbers must differ by more than case"
            also = "" if same == lot_number else also
            raise RuleViolation(f"material lot {lot_number} exists already{also}")
        uow.add(
            MaterialLot(
                lot_number=lot_number,
                kind=kind,
                name=name,
                expires_on=expires,
                recorded_at=uow.now,
                recorded_by=actor.id,
            )
        )
        uow.commit()
