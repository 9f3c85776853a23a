"""What a bag label carries, built from the records and the site settings it is printed under.

Reading only: printing (counting, pinning, signing) is :mod:`cellbatch.services.commands.labels`,
and the page itself is drawn by :mod:`cellbatch.documents.labels`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session

from cellbatch import isbt128, units
from cellbatch.db.audit_chain import canonical_value, dumps, sha256
from cellbatch.db.tables import (
    Bag,
    Batch,
    Donor,
    DonorTest,
    Recipient,
    StepEntry,
    TissueLot,
    TreatmentPlan,
    Vial,
)
from cellbatch.domain import dosing
from cellbatch.domain.coi import parse_coi
from cellbatch.domain.errors import RuleViolation
from cellbatch.domain.timeparse import as_utc
from cellbatch.services.queries.donors import reactive_markers
from cellbatch.services.queries.site_settings import SiteSettingsView
from cellbatch.site import SiteSettings

QUARANTINE_TEXT = "NOT RELEASED – QUARANTINE"
"""What a label printed before release says, large."""

_BLOOD_GROUP = "N/A"

BAG_LABEL_VERSION = 2
"""The version of a bag label's content printed now (docs/labels.md, "Label content versions").

1: the content as printed before bag labels carried the chain-of-identity identifier;
2: with it (``coi``, ``coi_eye_readable``, ``coi_check``; the Data Matrix carries it as a
fourth structure). A printed label records its version, and the archive rebuilds it at that
version, so a label printed as version 1 keeps the content hash it was printed with."""

_SINCE_VERSION_2 = ("content_version", "coi", "coi_eye_readable", "coi_check")
"""Content a version 1 label did not have (left out of its content, so its hash is kept)."""


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
    site_settings: str = ""
    """The approved site settings version the label is made under (``site settings v1``)."""
    content_version: int = 1
    """The version of this content (:data:`BAG_LABEL_VERSION`)."""
    coi: str | None = None
    """The recipient's chain-of-identity identifier as bar-coded (``&/CH…``), version 2 on:
    None for a recipient whose therapy has none (a plan made before identifiers were
    assigned, or a dose made before recipients were records)."""
    coi_eye_readable: str | None = None
    """``CH A9999 26 000003``, printed with its boxed :attr:`coi_check`."""
    coi_check: str | None = None
    """The identifier's mod 37-2 check character (never bar-coded)."""

    @property
    def status_text(self) -> str | None:
        """The large quarantine statement of a label printed before release (None if final)."""
        return None if self.final else QUARANTINE_TEXT

    def barcodes(self) -> dict[str, str]:
        """The data each barcode on the label encodes, by name."""
        codes = {
            "din": self.din_data,
            "product_code": self.product_code_data,
            "expiry": self.expiry_data,
            "datamatrix": self.datamatrix,
        }
        if self.coi is not None:
            codes["coi"] = self.coi
        return codes

    def content_hash(self) -> str:
        """SHA-256 of everything the label prints: what its print event is bound to."""
        return sha256(dumps(canonical_value(self.to_dict())))

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON output: the content of the label's version, no more."""
        content = asdict(self)
        if self.content_version == 1:
            for name in _SINCE_VERSION_2:
                del content[name]
        return content


def zone_name(moment: datetime, site: SiteSettings) -> str:
    """The facility's time zone abbreviation at ``moment`` (GMT, BST, CET, …)."""
    return as_utc(moment).astimezone(ZoneInfo(site.timezone)).tzname() or site.timezone


def bag_identity(bag: Bag, site: SiteSettings) -> tuple[isbt128.Din, isbt128.ProductCode, datetime]:
    """The ISBT 128 identity of a bag: DIN, product code and local expiry (to the minute)."""
    din = isbt128.Din.from_code(bag.din)
    product = isbt128.parse_product_code(isbt128.PRODUCT_CODE_IDENTIFIER + bag.product_code)
    expiry = site.local_time(as_utc(bag.expires_at)).replace(second=0, microsecond=0)
    return din, product, expiry


def bag_label(
    session: Session,
    batch: Batch,
    bag: Bag,
    view: SiteSettingsView,
    *,
    final: bool,
    reprint: bool,
    flags: str,
    printed_by: str,
    printed_at: str,
    reason: str | None,
    content_version: int = BAG_LABEL_VERSION,
) -> BagLabel:
    """The content of a bag's label from its records and one approved site settings version.

    ``content_version`` is the version to build (a printed label is rebuilt at its own): from
    version 2 on, the label carries the recipient's chain-of-identity identifier.
    """
    if content_version not in (1, 2):
        raise RuleViolation(f"bag label content version {content_version} is not known")
    site = view.settings
    din, product, expiry = bag_identity(bag, site)
    coi = therapy_coi(session, batch) if content_version >= 2 else None
    identifier = parse_coi(coi) if coi else None
    settings = next(
        (p for p in site.products.values() if p.description_code == product.description_code),
        None,
    )
    if settings is None:
        raise RuleViolation(
            f"product code {product.eye_readable} of {batch.code}: {view.label} define no "
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
        expiry_zone=zone_name(bag.expires_at, site),
        expiry_utc=as_utc(bag.expires_at).astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
        expiry_data=isbt128.expiry_data_structure(expiry),
        timezone=site.timezone,
        datamatrix=isbt128.datamatrix_content(din, flags, product, expiry, coi),
        blood_group=_BLOOD_GROUP,
        product_name=settings.name,
        storage=settings.storage_text(),
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
        printed_at=printed_at,
        printed_by=printed_by,
        reason=reason,
        site_settings=view.label,
        content_version=content_version,
        coi=coi,
        coi_eye_readable=identifier.eye_readable() if identifier else None,
        coi_check=identifier.check if identifier else None,
    )


def donation_sources(session: Session, bank: Batch) -> list:
    """The bank, its tissue lot, the donor and the donor's tests.

    What every label shows of the donation: its DIN, the donor's eligibility, reactive markers.
    """
    lot = session.get(TissueLot, bank.tissue_lot_id)
    donor = session.get(Donor, lot.donor_id)
    tests = session.execute(select(DonorTest).where(DonorTest.donor_id == donor.id)).scalars()
    return [bank, lot, donor, *tests]


def bag_label_sources(session: Session, batch: Batch, bag: Bag) -> list:
    """The stored rows a bag's label is made from; a print proves them before it prints.

    A label never prints, nor QA signs on a reprint, a value edited in the database: an
    edited expiry, chain-of-identity identifier, cell count or donor test was printed.
    """
    rows = [batch, bag, session.get(StepEntry, bag.fill_entry_id)]
    rows += donation_sources(session, session.get(Batch, batch.parent_batch_id))
    if batch.recipient_id:
        rows += session.execute(
            select(TreatmentPlan)
            .join(Recipient, Recipient.id == TreatmentPlan.recipient_id)
            .where(Recipient.code == batch.recipient_id)
        ).scalars()
    return rows


def vial_label_sources(session: Session, bank: Batch) -> list:
    """The stored rows a bank's vial and QC sample labels are made from (see above)."""
    vials = session.execute(select(Vial).where(Vial.batch_id == bank.id)).scalars()
    return [*donation_sources(session, bank), *vials]


def therapy_coi(session: Session, batch: Batch) -> str | None:
    """The chain-of-identity identifier of the therapy a dose batch is made for, if any."""
    if not batch.recipient_id:
        return None
    return session.execute(
        select(TreatmentPlan.coi)
        .join(Recipient, Recipient.id == TreatmentPlan.recipient_id)
        .where(Recipient.code == batch.recipient_id)
    ).scalar_one_or_none()
