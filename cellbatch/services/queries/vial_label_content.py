"""What a small label carries: a bank's cryovial, or one of its QC sample tubes (ST-001 §7.3.1).

A container too small for linear bar codes carries the DIN in text with its check character,
the product code with its division, its own number, and a Data Matrix holding them: the DIN,
the product code (division ``99``) and Product Divisions (Data Structure 032), whose six digits
are the bank's place among the banks of its donation (two digits) and the vial number (four),
unique for the DIN and product code. A QC sample tube carries the DIN with flags ``07``
("test tube label") and the product code of the bank undivided (``00``): it is a sample of the
bulk, drawn before it was divided into vials.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from cellbatch import isbt128
from cellbatch.db.audit_chain import canonical_value, dumps, sha256
from cellbatch.db.tables import Batch, Donor, LabelEvent, PrintedLabel, TissueLot, Vial
from cellbatch.domain.errors import InvalidInput, RuleViolation
from cellbatch.domain.sop import QcTest
from cellbatch.services.queries.site_settings import SiteSettingsView
from cellbatch.services.queries.sops import sop_of

TEST_TUBE_FLAGS = "07"
"""DIN flag characters of a QC sample tube: "test tube label" (ST-001 Table 3)."""

MAX_BANKS_PER_DONATION = 99
MAX_VIALS_PER_BANK = 9999


@dataclass(frozen=True)
class VialLabel:
    """Everything printed on one cryovial or QC sample tube label, as plain data."""

    batch: str
    kind: str
    """``vial`` or ``qc-sample``."""
    number: int
    """The vial's number in its bank, or the tube's among the bank's QC samples."""
    count: int
    """How many vials (or QC sample tubes) the bank has."""
    sample: str | None
    """For a QC sample tube: the SOP's QC test it is for (its id)."""
    sample_name: str | None
    din: str
    din_eye_readable: str
    check_character: str
    flags: str
    din_data: str
    product_code: str
    product_code_data: str
    divisions: str | None
    divisions_data: str | None
    datamatrix: str
    biohazard: bool
    example_notice: str | None
    printed_at: str
    printed_by: str
    reprint: bool = False
    reason: str | None = None
    site_settings: str = ""

    @property
    def title(self) -> str:
        """``Vial 7 of 16`` or ``QC 3/14``."""
        if self.kind == "vial":
            return f"Vial {self.number} of {self.count}"
        return f"QC sample {self.number} of {self.count}"

    def barcodes(self) -> dict[str, str]:
        """The data the label's Data Matrix holds, and each structure in it."""
        codes = {"din": self.din_data, "product_code": self.product_code_data}
        if self.divisions_data:
            codes["divisions"] = self.divisions_data
        codes["datamatrix"] = self.datamatrix
        return codes

    def content_hash(self) -> str:
        """SHA-256 of everything the label prints."""
        return sha256(dumps(canonical_value(self.to_dict())))

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON output."""
        return asdict(self)


@dataclass(frozen=True)
class QcSample:
    """One QC sample tube drawn at the freeze: the tests it serves, by method."""

    key: str
    """The id of the first QC test it serves (what its printed label names)."""
    name: str
    """As the small label prints it: the test's name, or the method shared by several."""
    tests: tuple[str, ...]


def qc_samples(tests: list[QcTest]) -> list[QcSample]:
    """One sample tube per method among a bank's release tests (a flow panel is one tube)."""
    groups: dict[str, list[QcTest]] = {}
    for test in tests:
        if test.stage == "release":
            groups.setdefault(test.method, []).append(test)
    samples = []
    for method, group in groups.items():
        name = group[0].name if len(group) == 1 else method
        short = name.split(" (")[0].split(",")[0].strip()
        samples.append(QcSample(group[0].id, short, tuple(t.id for t in group)))
    return samples


def bank_ordinal(session: Session, bank: Batch) -> int:
    """The bank's place (1, 2, …) among the banks made from its donation (its DIN)."""
    banks = session.execute(
        select(Batch.id)
        .where(Batch.tissue_lot_id == bank.tissue_lot_id, Batch.kind == "expansion")
        .order_by(Batch.id)
    ).scalars()
    ordinal = list(banks).index(bank.id) + 1
    if ordinal > MAX_BANKS_PER_DONATION:
        raise RuleViolation(
            f"{bank.code} is bank {ordinal} of its donation: vial labels number at most "
            f"{MAX_BANKS_PER_DONATION} banks per DIN"
        )
    return ordinal


def vial_divisions(ordinal: int, number: int) -> str:
    """The six-digit Product Divisions code of vial ``number`` of the bank ``ordinal``."""
    if not 1 <= number <= MAX_VIALS_PER_BANK:
        raise RuleViolation(
            f"vial {number}: vial labels number vials 1–{MAX_VIALS_PER_BANK} of a bank"
        )
    return f"{ordinal:02d}{number:04d}"


def _bank_identity(
    session: Session, bank: Batch, view: SiteSettingsView
) -> tuple[isbt128.Din, isbt128.ProductCode, bool]:
    """The bank's DIN, its product code (division 00) and whether the donor needs biohazard."""
    if bank.kind != "expansion":
        raise RuleViolation(f"{bank.code} is a dose batch: vial labels belong to banks")
    lot = session.get(TissueLot, bank.tissue_lot_id)
    donor = session.get(Donor, lot.donor_id)
    product = view.settings.product(sop_of(session, bank).product)
    collection = product.collection_type
    biohazard = donor.eligibility != "eligible"
    if donor.eligibility == "ineligible-related":
        collection = isbt128.biohazard_collection_type(collection)
    code = isbt128.ProductCode(product.description_code, collection, isbt128.UNDIVIDED)
    return (
        isbt128.Din.from_code(lot.din),
        code,
        biohazard or "biohazard" in (code.collection_type_meaning.lower()),
    )


def small_label(
    session: Session,
    bank: Batch,
    view: SiteSettingsView,
    *,
    vial: Vial | None,
    sample: tuple[int, QcSample] | None,
    count: int,
    reprint: bool,
    printed_by: str,
    printed_at: str,
    reason: str | None,
) -> VialLabel:
    """The label of one vial (``vial``) or one QC sample tube (``sample``: number, test)."""
    din, bulk, biohazard = _bank_identity(session, bank, view)
    if vial is not None:
        flags = "05" if reprint else din.type3_flags()
        product = isbt128.ProductCode(
            bulk.description_code, bulk.collection_type, isbt128.DIVIDED_ELSEWHERE
        )
        divisions = vial_divisions(bank_ordinal(session, bank), vial.number)
        divisions_data = isbt128.DIVISIONS_IDENTIFIER + divisions
        structures = [din.data_structure(flags), product.data_structure(), divisions_data]
        number, test = vial.number, None
    else:
        number, test = sample  # type: ignore[misc]
        flags, product, divisions, divisions_data = TEST_TUBE_FLAGS, bulk, None, None
        structures = [din.data_structure(flags), product.data_structure()]
    return VialLabel(
        batch=bank.code,
        kind="vial" if vial is not None else "qc-sample",
        number=number,
        count=count,
        sample=test.key if test else None,
        sample_name=test.name if test else None,
        din=din.code,
        din_eye_readable=din.eye_readable,
        check_character=din.check,
        flags=flags,
        din_data=din.data_structure(flags),
        product_code=product.eye_readable,
        product_code_data=product.data_structure(),
        divisions=divisions,
        divisions_data=divisions_data,
        datamatrix=isbt128.compound_message(*structures),
        biohazard=biohazard,
        example_notice="EXAMPLE" if view.settings.example else None,
        printed_at=printed_at,
        printed_by=printed_by,
        reprint=reprint,
        reason=reason,
        site_settings=view.label,
    )


def vial_of_scan(session: Session, bank: Batch, text: str, field: str = "--vial") -> int:
    """The number of the vial of ``bank`` whose label was scanned; another bank's is refused."""
    try:
        scan = isbt128.parse_scan(text)
    except InvalidInput as exc:
        raise InvalidInput(field, f"not a vial label: {exc.message}") from None
    if scan.din is None or scan.product is None or scan.divisions is None:
        what = "a QC sample tube" if scan.flags == TEST_TUBE_FLAGS else "not a vial label"
        raise InvalidInput(
            field,
            f"{what}: a vial label's Data Matrix holds the DIN, product code and product "
            "divisions (scan the square symbol)",
        )
    lot = session.get(TissueLot, bank.tissue_lot_id)
    ordinal = bank_ordinal(session, bank)
    other_bank = scan.divisions[:2] != f"{ordinal:02d}"
    if scan.din.code != lot.din or other_bank or not scan.divisions.isdigit():
        vial = f"vial {int(scan.divisions[2:])}" if scan.divisions.isdigit() else "a vial"
        raise RuleViolation(
            f"{field}: the label scanned is {vial} of another bank (DIN {scan.din.eye_readable}, "
            f"divisions {scan.divisions}); this dose is made from {bank.code} (DIN "
            f"{isbt128.Din.from_code(lot.din).eye_readable}, divisions {ordinal:02d}nnnn)"
        )
    number = int(scan.divisions[2:])
    printed = session.execute(
        select(LabelEvent.detail)
        .join(PrintedLabel, PrintedLabel.print_event_id == LabelEvent.id)
        .join(Vial, Vial.id == PrintedLabel.vial_id)
        .where(PrintedLabel.batch_id == bank.id, Vial.number == number)
    ).scalars()
    codes = {json.loads(detail).get("product_code") for detail in printed if detail}
    if not codes:
        raise RuleViolation(
            f"{field}: no label of vial {number} of {bank.code} was printed: its scan cannot be "
            "checked (print the vial labels, or give the vial number)"
        )
    if scan.product.data_structure() not in codes:
        raise RuleViolation(
            f"{field}: product code {scan.product.eye_readable} was printed on no label of vial "
            f"{number} of {bank.code}"
        )
    return number
