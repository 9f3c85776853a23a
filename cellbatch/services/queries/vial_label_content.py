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
import re
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from cellbatch import isbt128
from cellbatch.db.audit_chain import canonical_value, dumps, sha256
from cellbatch.db.tables import Batch, Donor, LabelEvent, TissueLot, Vial
from cellbatch.domain.errors import InvalidInput, RuleViolation
from cellbatch.domain.sop import QcTest
from cellbatch.services.queries.labels import label_in_force
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


@dataclass(frozen=True)
class VialScan:
    """A vial label as read: its Data Matrix scanned, or its text typed from the label."""

    din: isbt128.Din
    flags: str
    """The DIN's flags: as scanned, or (typed without printed flags) the check flags."""
    product: isbt128.ProductCode | None
    """The product code; None when typed without it."""
    divisions: str
    """The six digits of Product Divisions: the bank's place (2) and the vial number (4)."""

    @property
    def ordinal(self) -> int:
        """The bank's place among the banks of its donation."""
        return int(self.divisions[:2])

    @property
    def number(self) -> int:
        """The vial's number in its bank."""
        return int(self.divisions[2:])


_TYPED_VIAL = re.compile(
    r"^(?P<din>.+?)\s+(?:(?P<product>S\d{4}[0-9A-Z]{3})\s+)?(?P<divisions>\d{6})$"
)
"""A vial label typed from its text: the DIN line as printed (with the boxed check character),
optionally the product code, then the six digits printed after it."""

_VIAL_HOW = (
    "scan the vial label's square symbol, or type the DIN with its check character and the six "
    "digits after the product code (e.g. A9999 26 000001 B 010005), or give the vial number"
)


def parse_vial_scan(text: str, field: str = "--vial") -> VialScan:
    """Read a vial label (no database): the Data Matrix, or the DIN and divisions typed."""
    cleaned = isbt128.clean_scan(text) if isinstance(text, str) else ""
    typed = _TYPED_VIAL.match(cleaned) if not cleaned.startswith("=") else None
    if typed:
        din, flags = isbt128.parse_keyed_entry(typed["din"], field)
        product = None
        if typed["product"]:
            product = isbt128.parse_product_code("=<" + typed["product"], field)
        return _vial_scan(din, flags, product, typed["divisions"], field)
    try:
        scan = isbt128.parse_scan(text)
    except InvalidInput as exc:
        raise InvalidInput(field, f"not a vial label: {exc.message}; {_VIAL_HOW}") from None
    if scan.din is None or scan.divisions is None:
        what = "a QC sample tube's label" if scan.flags == TEST_TUBE_FLAGS else "not a vial label"
        raise InvalidInput(
            field,
            f"{what}: a vial label carries the DIN, product code and product divisions; "
            + _VIAL_HOW,
        )
    return _vial_scan(scan.din, scan.flags or "", scan.product, scan.divisions, field)


def _vial_scan(
    din: isbt128.Din,
    flags: str,
    product: isbt128.ProductCode | None,
    divisions: str,
    field: str,
) -> VialScan:
    if product is not None and product.division != isbt128.DIVIDED_ELSEWHERE:
        raise InvalidInput(
            field,
            f"product code {product.eye_readable} is not a vial's: a vial's product code ends "
            f"in {isbt128.DIVIDED_ELSEWHERE} (its number follows in the product divisions)",
        )
    if not divisions.isdigit() or int(divisions[:2]) < 1 or int(divisions[2:]) < 1:
        raise InvalidInput(
            field,
            f"product divisions {divisions!r} do not number a vial: two digits for the bank "
            "and four for the vial, e.g. 010005",
        )
    return VialScan(din, flags, product, divisions)


def _bank_named(session: Session, din: str, ordinal: int) -> str:
    """The code of bank ``ordinal`` of the donation ``din``, or how the label names it."""
    banks = list(
        session.execute(
            select(Batch.code)
            .join(TissueLot, TissueLot.id == Batch.tissue_lot_id)
            .where(TissueLot.din == din, Batch.kind == "expansion")
            .order_by(Batch.id)
        ).scalars()
    )
    if 1 <= ordinal <= len(banks):
        return banks[ordinal - 1]
    return f"bank {ordinal:02d} of DIN {isbt128.Din.from_code(din).eye_readable}"


def vial_of_scan(session: Session, bank: Batch, text: str, field: str = "--vial") -> int:
    """The number of the vial of ``bank`` whose label was read; anything else is refused.

    Each refusal is an :class:`InvalidInput` of ``field`` (the form's vial field, ``--vial``).

    Refused: another bank's vial (another DIN, or another bank of the same donation), a vial
    the bank does not have, a vial whose label was never printed, and a label superseded by a
    reprint (its flags are not those of the label in force).
    """
    scan = parse_vial_scan(text, field)
    lot = session.get(TissueLot, bank.tissue_lot_id)
    ordinal = bank_ordinal(session, bank)
    own = isbt128.Din.from_code(lot.din)
    if scan.din.code != lot.din or scan.ordinal != ordinal:
        other = _bank_named(session, scan.din.code, scan.ordinal)
        raise InvalidInput(
            field,
            f"the label read is vial {scan.number} of {other} (DIN "
            f"{scan.din.eye_readable}, divisions {scan.divisions}), not a vial of {bank.code} "
            f"(DIN {own.eye_readable}, divisions {ordinal:02d}nnnn): take a vial of {bank.code}",
        )
    vial = session.execute(
        select(Vial).where(Vial.batch_id == bank.id, Vial.number == scan.number)
    ).scalar_one_or_none()
    if vial is None:
        raise InvalidInput(field, f"{bank.code} has no vial {scan.number}")
    label = label_in_force(session, bank, kind="vial", vial_id=vial.id)
    if label is None:
        raise InvalidInput(
            field,
            f"no label of vial {scan.number} of {bank.code} in force: its label "
            "cannot be checked (print the vial labels, or give the vial number)",
        )
    if label.flags != scan.flags:
        raise InvalidInput(
            field,
            f"the label read on vial {scan.number} of {bank.code} is superseded (flags "
            f"{scan.flags}; the label in force is L{label.id}, flags {label.flags}): put the "
            "label in force on the vial and record the old one destroyed",
        )
    detail = session.get(LabelEvent, label.print_event_id).detail
    printed = json.loads(detail).get("product_code") if detail else None
    if scan.product is not None and scan.product.data_structure() != printed:
        raise InvalidInput(
            field,
            f"product code {scan.product.eye_readable} is not on the label of vial "
            f"{scan.number} of {bank.code} (L{label.id})",
        )
    return scan.number


def vial_numbers_of(
    session: Session, bank: Batch, given: list[int | str], field: str = "--vial"
) -> list[int]:
    """Vial numbers of ``bank`` from what was given: numbers, or vial labels read."""
    numbers = []
    for item in given:
        text = str(item).strip()
        numbers.append(int(text) if text.isdigit() else vial_of_scan(session, bank, text, field))
    return numbers
