"""Bag labels: what each label carries, print and reprint counting, and scan verification.

Every print, reprint and scan is one :class:`~cellbatch.db.tables.LabelEvent`, written
with its audit entry in one unit of work. Final labels print only for a released batch;
before release the label is a quarantine label that says so in large letters. The PDF
itself is drawn by :mod:`cellbatch.documents.labels`, called back inside the transaction,
so a label that fails to render is never counted as printed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from cellbatch import isbt128, units
from cellbatch.db.database import Database
from cellbatch.db.tables import (
    Bag,
    Batch,
    Donor,
    LabelEvent,
    StepEntry,
    TissueLot,
)
from cellbatch.domain import dosing
from cellbatch.domain.errors import InvalidInput, NotFound, RuleViolation
from cellbatch.domain.text import MAX_TEXT, encoding_error, typed_text
from cellbatch.domain.timeparse import as_utc, iso_utc
from cellbatch.domain.users import Actor, Role
from cellbatch.services.batch_access import find_batch
from cellbatch.services.queries.donors import reactive_markers
from cellbatch.services.queries.holds import batch_holds, refuse_if_held
from cellbatch.services.unit_of_work import UnitOfWork
from cellbatch.site import SiteSettings, load_site_settings

LABEL_ROLES = (Role.TECHNICIAN, Role.SUPERVISOR, Role.QA)
"""Roles that print and verify bag labels."""

REPRINT_FLAGS = "05"
"""DIN flag characters of a reprinted label (DESIGN.md §5)."""

QUARANTINE_TEXT = "NOT RELEASED – QUARANTINE"
"""What a label printed before release says, large."""

_BLOOD_GROUP = "N/A"


@dataclass(frozen=True)
class BagLabel:
    """Everything printed on one bag label, as plain data (the document only lays it out)."""

    batch: str
    bag_number: int
    final: bool
    reprint: bool
    din: str
    din_eye_readable: str
    check_character: str
    flags: str
    din_data: str
    product_code: str
    product_code_data: str
    expiry_local: str
    expiry_zone: str
    expiry_utc: str
    expiry_data: str
    timezone: str
    datamatrix: str
    blood_group: str
    product_name: str
    storage: str
    volume: str
    viable_cells: str
    dose_per_kg: str
    body_weight: str
    recipient: str
    infusion_number: int | None
    infusion_day: int | None
    statements: list[str]
    biohazard: bool
    biohazard_legend: str | None
    communicable_disease_warning: str | None
    reactive_warning: str | None
    example_notice: str | None
    facility_name: str
    facility_address: list[str]
    printed_at: str
    printed_by: str
    reason: str | None = None

    @property
    def status_text(self) -> str | None:
        """The large quarantine statement of a label printed before release (None if final)."""
        return None if self.final else QUARANTINE_TEXT

    def barcodes(self) -> dict[str, str]:
        """The data each barcode on the label encodes, by name."""
        return {
            "din": self.din_data,
            "product_code": self.product_code_data,
            "expiry": self.expiry_data,
            "datamatrix": self.datamatrix,
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON output."""
        return asdict(self)


@dataclass(frozen=True)
class ScanCheck:
    """One scanned barcode compared with the bag."""

    scan: str
    kind: str | None
    ok: bool
    differences: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ScanReport:
    """The outcome of scanning a bag's label back: each scan, and whether the label is verified."""

    batch: str
    bag_number: int
    ok: bool
    checks: list[ScanCheck]
    missing: list[str]
    status: str = "released"
    """The batch status when scanned: barcodes cannot tell a quarantine label from a final one."""
    holds: list[str] = field(default_factory=list)
    """The holds in force on the bag: a held product's label is never accepted."""

    def summary(self) -> str:
        """One line saying what was verified or what is wrong."""
        if self.ok:
            line = (
                f"label of {self.batch} bag {self.bag_number} verified: DIN, product code, expiry"
            )
            if self.status != "released":
                line += f"; the product is NOT released (batch status: {self.status})"
            return line
        problems = [
            f"scan {n}: " + "; ".join(c.differences)
            for n, c in enumerate(self.checks, start=1)
            if not c.ok
        ]
        if self.missing:
            problems.append("not scanned: " + ", ".join(self.missing))
        if self.holds:
            problems.append("the product is ON HOLD: " + "; ".join(self.holds))
        return f"label of {self.batch} bag {self.bag_number} NOT verified: " + " | ".join(problems)

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON output."""
        return asdict(self)


def _require_label_role(actor: Actor, action: str) -> None:
    actor.require(*LABEL_ROLES, action=action)


def _bags(session: Session, batch: Batch) -> list[Bag]:
    """The batch's bags in order of their number."""
    query = select(Bag).where(Bag.batch_id == batch.id).order_by(Bag.number)
    return list(session.execute(query).scalars())


def _bag(session: Session, batch: Batch, number: int | None = None) -> Bag:
    """The batch's bag (number ``number`` if given); refuse a batch with no bag."""
    if batch.kind != "dose":
        raise RuleViolation(f"{batch.code} is a bank: bag labels belong to dose batches")
    bags = _bags(session, batch)
    if not bags:
        raise RuleViolation(f"{batch.code} has no bag yet: labels print after the fill")
    if number is None:
        return bags[0]
    for bag in bags:
        if bag.number == number:
            return bag
    raise NotFound(
        f"{batch.code} has no bag {number} (bags: {', '.join(str(b.number) for b in bags)})"
    )


def _zone_name(bag: Bag, site: SiteSettings) -> str:
    """The facility's time zone abbreviation at the bag's expiry (GMT, BST, CET, …)."""
    from zoneinfo import ZoneInfo

    return as_utc(bag.expires_at).astimezone(ZoneInfo(site.timezone)).tzname() or site.timezone


def _expected(bag: Bag, site: SiteSettings) -> tuple[isbt128.Din, isbt128.ProductCode, datetime]:
    """The ISBT 128 identity of the bag: DIN, product code and local expiry (to the minute)."""
    din = isbt128.Din.from_code(bag.din)
    product = isbt128.parse_product_code(isbt128.PRODUCT_CODE_IDENTIFIER + bag.product_code)
    expiry = site.local_time(as_utc(bag.expires_at)).replace(second=0, microsecond=0)
    return din, product, expiry


def _label(
    session: Session,
    batch: Batch,
    bag: Bag,
    site: SiteSettings,
    *,
    final: bool,
    reprint: bool,
    actor: Actor,
    now: datetime,
    reason: str | None,
) -> BagLabel:
    """Build the content of the bag's label from its records and the site settings."""
    din, product, expiry = _expected(bag, site)
    flags = REPRINT_FLAGS if reprint else din.type3_flags()
    settings = next(
        (p for p in site.products.values() if p.description_code == product.description_code),
        None,
    )
    if settings is None:
        raise RuleViolation(
            f"product code {product.eye_readable} of {batch.code}: the site settings define no "
            f"product with description code {product.description_code}"
        )
    bank = session.get(Batch, batch.parent_batch_id)
    lot = session.get(TissueLot, bank.tissue_lot_id)
    donor = session.get(Donor, lot.donor_id)
    biohazard = (
        "biohazard" in product.collection_type_meaning.lower() or donor.eligibility != "eligible"
    )
    reactive = reactive_markers(session, donor)
    fill = session.get(StepEntry, bag.fill_entry_id)
    cells, volume = fill.values["viable_cells"], fill.values["volume"]
    return BagLabel(
        batch=batch.code,
        bag_number=bag.number,
        final=final,
        reprint=reprint,
        din=din.code,
        din_eye_readable=din.eye_readable,
        check_character=din.check,
        flags=flags,
        din_data=din.data_structure(flags),
        product_code=product.eye_readable,
        product_code_data=product.data_structure(),
        expiry_local=isbt128.expiry_eye_readable(expiry),
        expiry_zone=_zone_name(bag, site),
        expiry_utc=as_utc(bag.expires_at).astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
        expiry_data=isbt128.expiry_data_structure(expiry),
        timezone=site.timezone,
        datamatrix=isbt128.datamatrix_content(din, flags, product, expiry),
        blood_group=_BLOOD_GROUP,
        product_name=settings.name,
        storage=settings.storage,
        volume=units.fmt(volume, "volume"),
        viable_cells=units.fmt(cells, "cells"),
        dose_per_kg=units.fmt(dosing.dose_per_kg(cells, batch.body_weight_kg), "cells_per_kg"),
        body_weight=units.fmt(batch.body_weight_kg, "mass_body"),
        recipient=batch.recipient_id or "",
        infusion_number=batch.infusion_number,
        infusion_day=batch.infusion_day,
        statements=list(site.statements),
        biohazard=biohazard,
        biohazard_legend=site.biohazard_legend if biohazard else None,
        communicable_disease_warning=site.communicable_disease_warning if biohazard else None,
        reactive_warning=(
            site.reactive_test_warning.format(markers=", ".join(reactive)) if reactive else None
        ),
        example_notice=site.example_notice,
        facility_name=site.facility_name,
        facility_address=list(site.facility_address),
        printed_at=iso_utc(now),
        printed_by=actor.username,
        reason=reason,
    )


def print_labels(
    db: Database,
    actor: Actor,
    code: str,
    render: Callable[[list[BagLabel]], None],
    *,
    reprint: bool = False,
    reason: str | None = None,
) -> list[BagLabel]:
    """Print the labels of a dose batch's bags: one counted, audited event per bag.

    ``render`` draws the labels (e.g. writes the PDF); it runs inside the transaction, so if
    it fails nothing is counted. A released batch gets final labels, any other open batch a
    quarantine label; a rejected batch gets none. A second print of the same kind of label is
    refused unless it is a reprint, which needs a reason and is marked on the label.
    """
    _require_label_role(actor, "print bag labels")
    reason = (reason or "").strip() or None
    if reprint:
        reason = typed_text(reason, "--reason", what="the reason for the reprint (e.g. 'smudged')")
    if not reprint and reason is not None:
        raise InvalidInput("--reason", "a reason is only given with --reprint")
    site = load_site_settings()
    with UnitOfWork(db, actor) as uow:
        batch = find_batch(uow.session, code, for_update=True)
        _bag(uow.session, batch)
        if batch.status == "rejected":
            raise RuleViolation(f"{batch.code} is rejected: its bag must not be labelled")
        refuse_if_held(uow.session, batch, "labelled")
        expired = [b for b in _bags(uow.session, batch) if as_utc(b.expires_at) <= uow.now]
        if expired:
            when = as_utc(expired[0].expires_at).strftime("%Y-%m-%d %H:%M UTC")
            raise RuleViolation(
                f"{batch.code} bag {expired[0].number} expired at {when}: an expired product "
                "is not labelled for infusion"
            )
        final = batch.status == "released"
        labels = []
        for bag in _bags(uow.session, batch):
            earlier = uow.session.execute(
                select(LabelEvent).where(
                    LabelEvent.bag_id == bag.id,
                    LabelEvent.action.in_(("print", "reprint")),
                    LabelEvent.final == final,
                )
            ).first()
            kind = "final" if final else "quarantine"
            if reprint and earlier is None:
                raise RuleViolation(
                    f"no {kind} label of {batch.code} bag {bag.number} was printed yet: "
                    "print it first (without --reprint)"
                )
            if not reprint and earlier is not None:
                raise RuleViolation(
                    f"the {kind} label of {batch.code} bag {bag.number} was already printed: "
                    "use --reprint --reason TEXT, and the label is marked as a reprint"
                )
            label = _label(
                uow.session,
                batch,
                bag,
                site,
                final=final,
                reprint=reprint,
                actor=actor,
                now=uow.now,
                reason=reason,
            )
            labels.append(label)
            uow.add(
                LabelEvent(
                    batch_id=batch.id,
                    bag_id=bag.id,
                    action="reprint" if reprint else "print",
                    final=final,
                    copies=1,
                    reason=reason,
                    detail=json.dumps(label.barcodes(), sort_keys=True),
                    at=uow.now,
                    by=actor.id,
                ),
                batch_id=batch.id,
                reason=reason,
            )
        render(labels)
        uow.commit()
        return labels


def _compare(
    scan: isbt128.Scan, din: isbt128.Din, product: isbt128.ProductCode, expiry: datetime
) -> list[str]:
    """Say what in one parsed scan differs from the bag (nothing: it matches)."""
    differences = []
    if scan.din is not None and scan.din.code != din.code:
        differences.append(
            f"DIN is {scan.din.eye_readable}, the bag's is {din.eye_readable} "
            f"(check character {din.check})"
        )
    if scan.product is not None and scan.product.eye_readable != product.eye_readable:
        differences.append(
            f"product code is {scan.product.eye_readable}, the bag's is {product.eye_readable}"
        )
    if scan.expiry is not None and scan.expiry != expiry:
        differences.append(
            f"expiry is {isbt128.expiry_eye_readable(scan.expiry)}, the bag's is "
            f"{isbt128.expiry_eye_readable(expiry)}"
        )
    return differences


def verify_scans(
    db: Database, actor: Actor, code: str, bag_number: int, scans: list[str]
) -> ScanReport:
    """Compare what the scanner read from a bag's label with the bag; record the outcome.

    The label is verified when every scan parses as ISBT 128, matches the bag, and together
    the scans cover the DIN, product code and expiry (the Data Matrix alone covers all
    three). A failed verification is recorded too, saying exactly what differs.
    """
    _require_label_role(actor, "verify bag labels")
    for scan in scans:
        problem = encoding_error(scan)
        if problem is not None:  # no database stores it; what a scanner types is UTF-8
            raise InvalidInput("--scan", problem)
    if not scans:
        raise InvalidInput("--scan", "scan at least one barcode of the label")
    site = load_site_settings()
    with UnitOfWork(db, actor) as uow:
        batch = find_batch(uow.session, code, for_update=True)
        bag = _bag(uow.session, batch, bag_number)
        din, product, expiry = _expected(bag, site)
        checks: list[ScanCheck] = []
        covered: set[str] = set()
        for text in scans:
            try:
                parsed = isbt128.parse_scan(text)
            except InvalidInput as exc:
                checks.append(
                    ScanCheck(text, None, False, [f"not a valid ISBT 128 barcode: {exc.message}"])
                )
                continue
            differences = _compare(parsed, din, product, expiry)
            checks.append(ScanCheck(parsed.text, parsed.kind, not differences, differences))
            if parsed.din is not None:
                covered.add("DIN")
            if parsed.product is not None:
                covered.add("product code")
            if parsed.expiry is not None:
                covered.add("expiry")
        missing = [n for n in ("DIN", "product code", "expiry") if n not in covered]
        holds = [h.text() for h in batch_holds(uow.session, batch)]
        ok = all(c.ok for c in checks) and not missing and not holds
        report = ScanReport(batch.code, bag.number, ok, checks, missing, batch.status, holds)
        uow.add(
            LabelEvent(
                batch_id=batch.id,
                bag_id=bag.id,
                action="scan",
                final=batch.status == "released",
                copies=0,
                ok=ok,
                reason=None if ok else report.summary()[:MAX_TEXT],
                detail=json.dumps(report.to_dict(), sort_keys=True, ensure_ascii=False),
                at=uow.now,
                by=actor.id,
            ),
            batch_id=batch.id,
            reason=None if ok else report.summary()[:MAX_TEXT],
        )
        uow.commit()
        return report
