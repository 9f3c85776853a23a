"""ISBT 128 data structures for cellular therapy bag labels: build, parse and validate.

Pure Python (standard library and :mod:`cellbatch.domain.errors` only). Covers what a
cellbatch bag label carries (ICCBBA ST-001):

- Donation Identification Number (DIN), Data Structure 001: ``=`` + 13-character DIN + 2 flag
  characters, and the ISO/IEC 7064 mod 37-2 keyboard check character printed in a box;
- Product Code, Data Structure 003: ``=<`` + product description code + collection type +
  division code;
- Expiration Date and Time, Data Structure 005: ``&>cyyjjjhhmm``;
- Product Divisions, Data Structure 032: ``=,dddddd`` (the number of a bank's vial);
- Compound Message, Data Structure 023: ``=+aabbb``, the header of a 2-D symbol (the label's
  Data Matrix) that carries several data structures;
- Chain of Identity Identifier, Data Structure 040: ``&/CH`` + FIN + year + 6-character
  sequence (the recipient's therapy; :mod:`cellbatch.domain.coi` builds it and its check);
- what a scanner sends: one bar code, an ISBT 128 concatenated pair (``]C4``), a compound
  message, or a DIN keyed by hand with its check character.

Every refusal is an :class:`~cellbatch.domain.errors.InvalidInput` whose message says what was
expected and what was found, fit to show a technician at the scanner as is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal, NamedTuple

from cellbatch.domain.errors import InvalidInput

__all__ = [
    "ALPHABET",
    "COI_IDENTIFIER",
    "COI_STRUCTURE_LENGTH",
    "COLLECTION_TYPES",
    "COMPOUND_HEADER_LENGTH",
    "COMPOUND_IDENTIFIER",
    "CONCATENATED_READ",
    "DIN_IDENTIFIER",
    "DIN_STRUCTURE_LENGTH",
    "DIVIDED_ELSEWHERE",
    "DIVISIONS_IDENTIFIER",
    "DIVISIONS_STRUCTURE_LENGTH",
    "EXPIRY_IDENTIFIER",
    "EXPIRY_STRUCTURE_LENGTH",
    "LOCAL_FLAGS",
    "MAX_DIVISIONS",
    "PRODUCT_CODE_IDENTIFIER",
    "PRODUCT_CODE_STRUCTURE_LENGTH",
    "UNDIVIDED",
    "BagMatrix",
    "Din",
    "ProductCode",
    "Scan",
    "ScanKind",
    "biohazard_collection_type",
    "check_character",
    "check_value",
    "clean_scan",
    "compound_message",
    "datamatrix_content",
    "division_code",
    "divisions_structure",
    "expiry_data_structure",
    "expiry_eye_readable",
    "flag_meaning",
    "flag_type",
    "parse_chain_of_identity",
    "parse_compound",
    "parse_datamatrix",
    "parse_din",
    "parse_divisions",
    "parse_expiry",
    "parse_keyed_din",
    "parse_keyed_entry",
    "parse_product_code",
    "parse_scan",
    "validate_fin",
    "validate_flags",
    "WrongCheckCharacter",
]

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*"
"""ISO/IEC 7064 mod 37-2 character set; a character's value is its index (0–36)."""

DIN_IDENTIFIER = "="
"""First data identifier character of a DIN; the second is the FIN's first character."""

PRODUCT_CODE_IDENTIFIER = "=<"
"""Data identifier of the Product Code (Data Structure 003)."""

EXPIRY_IDENTIFIER = "&>"
"""Data identifier of Expiration Date and Time (Data Structure 005)."""

DIN_STRUCTURE_LENGTH = 16
"""``=`` + 13-character DIN + 2 flag characters."""

PRODUCT_CODE_STRUCTURE_LENGTH = 10
"""``=<`` + 5-character description code + collection type + 2-character division."""

EXPIRY_STRUCTURE_LENGTH = 12
"""``&>`` + ``cyyjjjhhmm``."""

DIVISIONS_IDENTIFIER = "=,"
"""Data identifier of Product Divisions (Data Structure 032)."""

DIVISIONS_STRUCTURE_LENGTH = 8
"""``=,`` + 6-character divisions code."""

COI_IDENTIFIER = "&/"
"""Data identifier of the Chain of Identity Identifier (Data Structure 040)."""

COI_STRUCTURE_LENGTH = 17
"""``&/`` + ``CH`` + 5-character FIN + 2-digit year + 6-character sequence."""

COMPOUND_IDENTIFIER = "=+"
"""Data identifier of a Compound Message (Data Structure 023)."""

COMPOUND_HEADER_LENGTH = 7
"""``=+`` + ``aa`` (how many structures follow) + ``bbb`` (``000``: undefined sequence)."""

CONCATENATED_READ = "]C4"
"""Symbology identifier a scanner sends for an ISBT 128 concatenated read of two bar codes."""

DIVIDED_ELSEWHERE = "99"
"""Division code of a product code whose divisions are in Data Structure 032 (§2.4.32)."""

UNDIVIDED = "00"
"""Division code of a product that has not been divided (one bag per DIN and product code)."""

MAX_DIVISIONS = 26
"""Highest bag number :func:`division_code` maps (``A0`` … ``Z0``)."""

COLLECTION_TYPES: dict[str, str] = {
    "0": "Not specified",
    "V": "Volunteer homologous (allogeneic)",
    "R": "Volunteer research (not for human application)",
    "S": "Volunteer source",
    "T": "Volunteer therapeutic",
    "P": "Paid homologous (allogeneic)",
    "r": "Paid research (not for human application)",
    "s": "Paid source",
    "A": "Autologous, eligible for crossover",
    "1": "For autologous use only",
    "X": "For autologous use only, biohazard",
    "D": "Volunteer directed, eligible for crossover",
    "d": "Paid directed, eligible for crossover",
    "2": "For directed recipient use only",
    "L": "For directed recipient use only, limited exposure",
    "E": "Medical exception, for specified recipient only (allogeneic)",
    "Q": "See Special Testing bar code",
    "3": "For directed recipient use only, biohazard",
    "4": "Designated",
    "5": "Dedicated",
    "6": "Designated, biohazard",
    "F": "Family reserved",
    "C": "Replacement",
    "7": "For allogeneic use",
    "8": "For autologous use, contains allogeneic material",
    "B": "Directed/dedicated/designated collection use only",
    "H": "Directed/dedicated/designated collection, biohazard",
    "J": "Directed/dedicated/designated collection, eligible for crossover",
    "G": "For emergency use only",
}
"""Collection type codes (6th character of the product code), ST-001 Table 7 [RT008]."""

_BIOHAZARD_VARIANTS = {"1": "X", "2": "3", "4": "6", "B": "H"}
_BIOHAZARD_TYPES = frozenset(_BIOHAZARD_VARIANTS.values())

_TYPE1_FLAGS = {
    "00": "no flag",
    "01": "container 1 of a set",
    "02": "container 2 of a set",
    "03": "container 3 of a set",
    "04": "container 4 of a set",
    "05": "second (or repeated) demand-printed label",
    "06": "pilot tube label",
    "07": "test tube label",
    "08": "donor record label",
    "09": "sample tube for NAT testing",
    "10": "samples for bacterial testing",
    "11": "match with unit label",
    "12": "affixed partial label",
    "13": "attached label",
    "15": "container 5 of a set",
    "16": "container 6 of a set",
    "17": "container 7 of a set",
    "18": "container 8 of a set",
    "19": "container 9 of a set",
}
"""Type 1 flag characters, defined by ICCBBA (ST-001 Table 3 [RT004]); 14 is reserved."""

LOCAL_FLAGS = range(20, 60)
"""Type 2 flag characters 20–59: defined by each facility, meaningful only at its FIN."""

_FLAG_CHOICES = (
    "00–13 or 15–19 (ICCBBA-defined, e.g. 05 repeated label, 07 test tube), "
    "20–59 (defined by the facility) or 60–96 (60 + check value)"
)

_FIN_FIRST = frozenset("ABCDEFGHIJKLMNPQRSTUVWXYZ123456789")
_ASCII_DIGITS = frozenset("0123456789")
_SYMBOLOGY_ID = re.compile(r"^\][A-Za-z][0-9A-Za-z]")
_DIVISION = re.compile(r"^(00|99|[A-Z][0a-z])$")
_DESCRIPTION_CODE = re.compile(r"^S[0-9]{4}$")

ScanKind = Literal[
    "din", "product_code", "expiry", "divisions", "coi", "compound", "concatenated", "keyed"
]
"""What a scan held: one data structure, a compound message, a concatenated pair, a keyed
DIN or CoI."""


class WrongCheckCharacter(InvalidInput):
    """A DIN or chain-of-identity identifier keyed as printed whose check character is wrong.

    Everything before the check character has the identifier's shape; the keyed check
    character is not the one computed from it. :attr:`fault` says so without the identifier,
    so a record may keep the parser's words without keeping what was keyed.
    """

    def __init__(self, field: str, message: str, *, what: str, typed: str, expected: str):
        super().__init__(field, message)
        self.what = what
        """``DIN`` or ``chain-of-identity identifier``."""
        self.typed = typed
        """The check character keyed."""
        self.expected = expected
        """The check character computed from the identifier keyed."""

    @property
    def fault(self) -> str:
        """``a DIN keyed as printed: check character B does not match, expected 8 (…)``."""
        return (
            f"a {self.what} keyed as printed: check character {self.typed} does not match, "
            f"expected {self.expected} (the {self.what} or the check character was mistyped)"
        )

    def with_field(self, field: str, message: str) -> WrongCheckCharacter:
        """The same fault under another field and message."""
        return WrongCheckCharacter(
            field, message, what=self.what, typed=self.typed, expected=self.expected
        )


def _digits(text: str) -> bool:
    """Return True when ``text`` is non-empty and all ASCII digits (``str.isdigit`` takes ``²``)."""
    return bool(text) and all(ch in _ASCII_DIGITS for ch in text)


# --------------------------------------------------------------------------------------------
# Check character (ISO/IEC 7064 mod 37-2)
# --------------------------------------------------------------------------------------------


def check_value(din13: str, field: str = "din") -> int:
    """Return the ISO/IEC 7064 mod 37-2 check value (0–36) of the 13 DIN characters."""
    if not isinstance(din13, str) or len(din13) != 13:
        got = len(din13) if isinstance(din13, str) else type(din13).__name__
        raise InvalidInput(field, f"a DIN has 13 characters, got {got}")
    total = 0
    for position, ch in enumerate(din13, start=1):
        value = ALPHABET.find(ch)
        if value < 0:
            raise InvalidInput(
                field,
                f"character {position} of the DIN, {ch!r}, is not a capital letter or digit",
            )
        total = ((total + value) * 2) % 37
    return (38 - total) % 37


def check_character(din13: str) -> str:
    """Return the mod 37-2 check character printed in a box after the DIN (e.g. ``G``)."""
    return ALPHABET[check_value(din13)]


# --------------------------------------------------------------------------------------------
# DIN
# --------------------------------------------------------------------------------------------


def validate_fin(fin: str, field: str = "fin") -> str:
    """Return ``fin`` if it is a well-formed Facility Identification Number, else refuse it.

    A FIN is 5 characters: a capital letter A–N or P–Z or a digit 1–9, then 4 digits. The
    letter O is never used (it looks like zero), and a FIN never starts with zero.
    """
    if not isinstance(fin, str):
        raise InvalidInput(field, f"a FIN is text, got {type(fin).__name__}")
    if "O" in fin.upper():
        raise InvalidInput(
            field,
            f"FIN {fin!r}: the letter O is not allowed in a FIN (it looks like zero); "
            "did you mean the digit 0?",
        )
    if len(fin) != 5:
        raise InvalidInput(
            field,
            f"a FIN has 5 characters (a letter or digit 1–9, then 4 digits), "
            f"got {len(fin)}: {fin!r}",
        )
    if fin != fin.upper():
        raise InvalidInput(field, f"FIN {fin!r}: letters must be capitals (is Caps Lock on?)")
    first = fin[0]
    if first == "0":
        raise InvalidInput(
            field,
            f"FIN {fin!r}: a FIN cannot start with the digit 0 (zero); it starts with a "
            "letter A–N, P–Z or a digit 1–9",
        )
    if first not in _FIN_FIRST:
        raise InvalidInput(
            field,
            f"FIN {fin!r}: the first character must be a letter A–N, P–Z or a digit 1–9, "
            f"got {first!r}",
        )
    if not _digits(fin[1:]):
        raise InvalidInput(field, f"FIN {fin!r}: the last 4 characters of a FIN must be digits")
    return fin


@dataclass(frozen=True)
class Din:
    """A Donation Identification Number: FIN, 2-digit year and 6-digit sequence number."""

    fin: str
    """Facility Identification Number (5 characters, licensed by ICCBBA; site configuration)."""
    year: int
    """Last two digits of the nominal year the DIN was assigned (0–99)."""
    sequence: int
    """Sequence number within the year for the FIN (0–999999)."""

    def __post_init__(self) -> None:
        """Refuse a malformed FIN, year or sequence number."""
        validate_fin(self.fin)
        if isinstance(self.year, bool) or not isinstance(self.year, int):
            raise InvalidInput("year", f"the DIN year is a number 0–99, got {self.year!r}")
        if not 0 <= self.year <= 99:
            raise InvalidInput(
                "year", f"the DIN year is the last two digits of the year (0–99), got {self.year}"
            )
        if isinstance(self.sequence, bool) or not isinstance(self.sequence, int):
            raise InvalidInput(
                "sequence", f"the DIN sequence number is a number, got {self.sequence!r}"
            )
        if not 0 <= self.sequence <= 999_999:
            raise InvalidInput(
                "sequence",
                f"the DIN sequence number has at most 6 digits (0–999999), got {self.sequence}",
            )

    @classmethod
    def from_code(cls, code: str, field: str = "din") -> Din:
        """Build a DIN from its 13 characters (``W000009123456``), refusing a malformed one."""
        if not isinstance(code, str) or len(code) != 13:
            got = len(code) if isinstance(code, str) else type(code).__name__
            raise InvalidInput(field, f"a DIN has 13 characters, got {got}")
        return _din_from_parts(code, field)

    @property
    def code(self) -> str:
        """The 13 characters of the DIN (``W000009123456``)."""
        return f"{self.fin}{self.year:02d}{self.sequence:06d}"

    @property
    def check_value(self) -> int:
        """The mod 37-2 check value (0–36)."""
        return check_value(self.code)

    @property
    def check(self) -> str:
        """The check character, printed in a box after the eye-readable DIN, never encoded."""
        return ALPHABET[self.check_value]

    @property
    def eye_readable(self) -> str:
        """The DIN as printed under its barcode: ``W0000 09 123456`` (check character apart)."""
        return f"{self.fin} {self.year:02d} {self.sequence:06d}"

    def type3_flags(self) -> str:
        """Type 3 flag characters: 60 + check value, two digits (``60``–``96``)."""
        return str(60 + self.check_value)

    def data_structure(self, flags: str = "00") -> str:
        """Return Data Structure 001 as encoded: ``=`` + DIN + flags (16 characters)."""
        return DIN_IDENTIFIER + self.code + validate_flags(self, flags)

    def __str__(self) -> str:
        """Return the eye-readable DIN."""
        return self.eye_readable


def _din_from_parts(code: str, field: str) -> Din:
    """Build a Din from 13 characters, raising every refusal under ``field``."""
    validate_fin(code[:5], field)
    year, sequence = code[5:7], code[7:13]
    if not _digits(year):
        raise InvalidInput(
            field, f"DIN {code!r}: characters 6–7 are the year and must be digits, got {year!r}"
        )
    if not _digits(sequence):
        raise InvalidInput(
            field,
            f"DIN {code!r}: characters 8–13 are the sequence number and must be digits, "
            f"got {sequence!r}",
        )
    return Din(code[:5], int(year), int(sequence))


def flag_type(flags: str) -> int | None:
    """The type of flag characters: 1 (ICCBBA-defined), 2 (facility-defined), 3 (check), or None.

    ST-001 §2.4.1: type 1 and 2 flags are printed beside the DIN, turned 90° clockwise; type 3
    flags are never printed (the boxed keyboard check character stands for them, §7.4.1).
    """
    if flags in _TYPE1_FLAGS:
        return 1
    if isinstance(flags, str) and len(flags) == 2 and _digits(flags):
        value = int(flags)
        if value in LOCAL_FLAGS:
            return 2
        if 60 <= value <= 96:
            return 3
    return None


def validate_flags(din: Din, flags: str, field: str = "flags") -> str:
    """Return ``flags`` if acceptable for ``din``; type 3 flags must be 60 + its check value."""
    if not isinstance(flags, str) or len(flags) != 2:
        raise InvalidInput(field, f"flag characters are 2 digits ({_FLAG_CHOICES}), got {flags!r}")
    kind = flag_type(flags)
    if kind == 3:
        expected = din.type3_flags()
        if flags != expected:
            raise InvalidInput(
                field,
                f"DIN {din.eye_readable}: wrong check flags: expected {expected} "
                f"(60 + check value {din.check_value}), got {flags}",
            )
    if kind is None:
        raise InvalidInput(
            field, f"flag characters {flags!r} are not accepted: use {_FLAG_CHOICES}"
        )
    return flags


def flag_meaning(flags: str) -> str:
    """Say in words what valid flag characters mean (``"container 2 of a set"``)."""
    kind = flag_type(flags)
    if kind == 1:
        return _TYPE1_FLAGS[flags]
    if kind == 2:
        return f"flag {flags}, defined by the facility"
    if kind == 3:
        return f"check value {int(flags) - 60}"
    raise InvalidInput("flags", f"flag characters {flags!r} are not accepted: use {_FLAG_CHOICES}")


def parse_din(text: str, field: str = "din") -> tuple[Din, str]:
    """Parse Data Structure 001 (``=W00000912345600``) into the DIN and its flags."""
    if not isinstance(text, str) or not text.startswith(DIN_IDENTIFIER) or len(text) < 2:
        raise InvalidInput(field, f"a DIN barcode starts with '=' and a FIN, got {text!r}")
    if len(text) != DIN_STRUCTURE_LENGTH:
        raise InvalidInput(
            field,
            f"wrong length for a DIN: expected {DIN_STRUCTURE_LENGTH} characters "
            f"(= + 13-character DIN + 2 flags), got {len(text)}",
        )
    din = _din_from_parts(text[1:14], field)
    return din, validate_flags(din, text[14:16], field)


def parse_keyed_din(text: str, field: str = "din") -> Din:
    """Parse a DIN typed from its eye-readable text with the boxed check character.

    Spaces are ignored, so ``W0000 09 123456 G`` and ``W000009123456G`` are the same. The check
    character must be present and match; this is what catches a mistyped DIN.
    """
    return parse_keyed_entry(text, field)[0]


def parse_keyed_entry(text: str, field: str = "din") -> tuple[Din, str]:
    """Parse a DIN typed as printed: DIN, the printed flags if any, then the check character.

    ``A9999 26 000001 B`` is a label whose flags are not printed (type 3 check flags, which the
    boxed check character stands for, ST-001 §7.4.1): its flags are returned as ``60 + K``.
    ``A9999 26 000001 05 B`` carries the printed flags (type 1 or 2), as read beside the DIN.
    """
    compact = "".join(text.split()) if isinstance(text, str) else ""
    if len(compact) not in (14, 16):
        raise InvalidInput(
            field,
            "type the 13-character DIN, the flags printed beside it if any, then its boxed "
            f"check character (e.g. A9999 26 000001 B), got {len(compact)} characters",
        )
    din = _din_from_parts(compact[:13], field)
    typed = compact[-1]
    if typed != din.check:
        raise WrongCheckCharacter(
            field,
            f"DIN {din.eye_readable}: wrong check character: expected {din.check}, got {typed} "
            "(the DIN or the check character was mistyped)",
            what="DIN",
            typed=typed,
            expected=din.check,
        )
    if len(compact) == 14:
        return din, din.type3_flags()
    flags = compact[13:15]
    if flag_type(flags) not in (1, 2):
        raise InvalidInput(
            field,
            f"DIN {din.eye_readable}: {flags!r} typed between the DIN and the check character "
            "is not a printed flag (00–59); type only the DIN and the check character if no "
            "flags are printed",
        )
    return din, flags


# --------------------------------------------------------------------------------------------
# Product code
# --------------------------------------------------------------------------------------------


def division_code(n: int) -> str:
    """Division code of bag ``n`` (1-based) among bags with the same DIN and product code.

    Bag 1 is ``A0``, bag 2 ``B0``, … bag 26 ``Z0``: ISBT 128 first-level divisions (capital
    letter, then ``0``). Second-level divisions (``Aa``, ``Ab``, …) mean "part of division A" and
    are not used. A product that is not divided at all uses :data:`UNDIVIDED` (``00``).
    More than 26 bags of one product code from one DIN are refused: ST-001 (§2.4.3) allows
    only capital letters for the first-level division, and second-level codes (``Aa``) would
    claim a bag is part of bag A. The ISBT 128 way to number more divisions is ``99`` in the
    product code plus Product Divisions (Data Structure 032, ``=,dddddd``), which must then be
    stored and scanned with every bag; that needs a divisions column in the bag table and is
    not supported yet.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise InvalidInput("division", f"the bag number is a whole number, got {n!r}")
    if not 1 <= n <= MAX_DIVISIONS:
        raise InvalidInput(
            "division",
            f"bag number {n} has no division code: bags 1–{MAX_DIVISIONS} of one product code "
            "from one DIN are coded A0–Z0; more bags from one donation need ISBT 128 Product "
            "Divisions (Data Structure 032), which this version does not support",
        )
    return chr(ord("A") + n - 1) + "0"


def biohazard_collection_type(collection_type: str) -> str:
    """Return the biohazard variant of a collection type (2→3, 1→X, 4→6, B→H).

    Used when the donor was not found eligible and the product may still be released for its
    directed (related) recipient; a type that is already a biohazard type is returned as is.
    """
    if collection_type in _BIOHAZARD_TYPES:
        return collection_type
    try:
        return _BIOHAZARD_VARIANTS[collection_type]
    except KeyError:
        raise InvalidInput(
            "collection_type",
            f"collection type {collection_type!r} has no biohazard variant; only directed (2→3), "
            "autologous (1→X), designated (4→6) or directed/dedicated/designated (B→H) products "
            "can carry a biohazard collection type",
        ) from None


@dataclass(frozen=True)
class ProductCode:
    """Data Structure 003 for a cellular therapy product: description, collection type, division."""

    description_code: str
    """Product description code: ``S`` + 4 digits (licensed by ICCBBA; site configuration)."""
    collection_type: str
    """One character from :data:`COLLECTION_TYPES` (e.g. ``V`` volunteer allogeneic)."""
    division: str = UNDIVIDED
    """``00`` when undivided, else ``A0``–``Z0`` (see :func:`division_code`)."""

    def __post_init__(self) -> None:
        """Refuse a malformed description code, collection type or division code."""
        _validate_product_parts(self.description_code, self.collection_type, self.division, None)

    @property
    def eye_readable(self) -> str:
        """Text printed under the barcode: the data content without ``=<`` (``S1234V00``)."""
        return self.description_code + self.collection_type + self.division

    @property
    def collection_type_meaning(self) -> str:
        """The collection type in words (``"Volunteer homologous (allogeneic)"``)."""
        return COLLECTION_TYPES[self.collection_type]

    def data_structure(self) -> str:
        """Return the barcode content: ``=<`` + description + collection type + division (10)."""
        return PRODUCT_CODE_IDENTIFIER + self.eye_readable

    def __str__(self) -> str:
        """Return the eye-readable product code."""
        return self.eye_readable


def _validate_product_parts(
    description_code: str, collection_type: str, division: str, field: str | None
) -> None:
    """Refuse bad product-code parts; each under its own field unless ``field`` is given."""
    if not isinstance(description_code, str) or not _DESCRIPTION_CODE.match(description_code):
        raise InvalidInput(
            field or "description_code",
            "a cellular therapy product description code is S followed by 4 digits "
            f"(e.g. S1234), got {description_code!r}",
        )
    if not isinstance(collection_type, str) or collection_type not in COLLECTION_TYPES:
        raise InvalidInput(
            field or "collection_type",
            f"unknown collection type {collection_type!r}; ISBT 128 collection types are "
            + " ".join(COLLECTION_TYPES),
        )
    if not isinstance(division, str) or not _DIVISION.match(division):
        raise InvalidInput(
            field or "division",
            "a division code is 00 (not divided), 99 (divisions in Data Structure 032) or a "
            f"capital letter followed by 0 or a small letter (e.g. A0), got {division!r}",
        )


def parse_product_code(text: str, field: str = "product_code") -> ProductCode:
    """Parse Data Structure 003 (``=<S1234V00``) into a :class:`ProductCode`."""
    if not isinstance(text, str) or not text.startswith(PRODUCT_CODE_IDENTIFIER):
        raise InvalidInput(field, f"a product code barcode starts with '=<', got {text!r}")
    if len(text) != PRODUCT_CODE_STRUCTURE_LENGTH:
        raise InvalidInput(
            field,
            f"wrong length for a product code: expected {PRODUCT_CODE_STRUCTURE_LENGTH} "
            f"characters (=< + 8), got {len(text)}",
        )
    description_code, collection_type, division = text[2:7], text[7], text[8:10]
    _validate_product_parts(description_code, collection_type, division, field)
    return ProductCode(description_code, collection_type, division)


# --------------------------------------------------------------------------------------------
# Expiration date and time
# --------------------------------------------------------------------------------------------


def _expiry_moment(dt: datetime | date) -> datetime:
    """Normalise an expiry to a naive datetime to the minute; a plain date means 23:59."""
    if isinstance(dt, datetime):
        if dt.tzinfo is not None and dt.utcoffset() is not None:
            raise InvalidInput(
                "expiry",
                "give the expiry in local facility time without a time zone "
                "(the label shows the local time as written)",
            )
        moment = dt.replace(second=0, microsecond=0, tzinfo=None)
    elif isinstance(dt, date):
        moment = datetime.combine(dt, time(23, 59))
    else:
        raise InvalidInput("expiry", f"the expiry is a date and time, got {dt!r}")
    if not 2000 <= moment.year <= 2999:
        raise InvalidInput(
            "expiry", f"ISBT 128 expiry dates cover the years 2000–2999, got {moment.year}"
        )
    return moment


def expiry_data_structure(dt: datetime | date) -> str:
    """Return Data Structure 005 for an expiry: ``&>`` + c yy jjj hh mm (``&>0263261300``).

    ``dt`` is naive local facility time. A :class:`~datetime.date` without a time means 23:59
    that day. Seconds are dropped, so the encoded expiry is never later than the real one.
    ``c`` is the century counted from 2000 (2000–2099 → 0), as in ICCBBA's worked example
    ``&>0183652359`` = 2018-12-31 23:59 (ST-012).
    """
    moment = _expiry_moment(dt)
    century = moment.year // 100 - 20
    day = moment.timetuple().tm_yday
    return (
        f"{EXPIRY_IDENTIFIER}{century}{moment.year % 100:02d}{day:03d}"
        f"{moment.hour:02d}{moment.minute:02d}"
    )


def expiry_eye_readable(dt: datetime | date) -> str:
    """Format the expiry as printed on the label: ``2026-11-22 13:00`` (ISO 8601, 24 h)."""
    return _expiry_moment(dt).strftime("%Y-%m-%d %H:%M")


def parse_expiry(text: str, field: str = "expiry") -> datetime:
    """Parse Data Structure 005 (``&>0263261300``) into a naive local datetime."""
    if not isinstance(text, str) or not text.startswith(EXPIRY_IDENTIFIER):
        raise InvalidInput(field, f"an expiry barcode starts with '&>', got {text!r}")
    if len(text) != EXPIRY_STRUCTURE_LENGTH:
        raise InvalidInput(
            field,
            f"wrong length for an expiry: expected {EXPIRY_STRUCTURE_LENGTH} characters "
            f"(&> + cyyjjjhhmm), got {len(text)}",
        )
    content = text[2:]
    if not _digits(content):
        raise InvalidInput(field, f"an expiry is 10 digits after &> (cyyjjjhhmm), got {content!r}")
    year = 2000 + int(content[0]) * 100 + int(content[1:3])
    day, hour, minute = int(content[3:6]), int(content[6:8]), int(content[8:10])
    days_in_year = (date(year + 1, 1, 1) - date(year, 1, 1)).days
    if not 1 <= day <= days_in_year:
        raise InvalidInput(
            field,
            f"bad day of year in expiry {content!r}: {year} has days 001–{days_in_year}, "
            f"got {day:03d}",
        )
    if hour > 23 or minute > 59:
        raise InvalidInput(
            field,
            f"bad time in expiry {content!r}: expected hours 00–23 and minutes 00–59, "
            f"got {hour:02d}:{minute:02d}",
        )
    return datetime(year, 1, 1, hour, minute) + timedelta(days=day - 1)


# --------------------------------------------------------------------------------------------
# Product divisions
# --------------------------------------------------------------------------------------------


def divisions_structure(number: int) -> str:
    """Data Structure 032, Product Divisions: ``=,`` + 6 digits (``=,000007`` for number 7).

    Used with a product code whose division is ``99`` (ST-001 §2.4.32): cellbatch numbers the
    vials of a bank this way, one level of divisions, digits only (up to 999 999).
    """
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= 999_999:
        raise InvalidInput("divisions", f"a product divisions number is 1–999999, got {number!r}")
    return f"{DIVISIONS_IDENTIFIER}{number:06d}"


def parse_divisions(text: str, field: str = "divisions") -> str:
    """Parse Data Structure 032 (``=,000007``) into its 6-character divisions code."""
    if not isinstance(text, str) or not text.startswith(DIVISIONS_IDENTIFIER):
        raise InvalidInput(field, f"a product divisions code starts with '=,', got {text!r}")
    if len(text) != DIVISIONS_STRUCTURE_LENGTH:
        raise InvalidInput(
            field,
            f"wrong length for product divisions: expected {DIVISIONS_STRUCTURE_LENGTH} "
            f"characters (=, + 6), got {len(text)}",
        )
    code = text[2:]
    if not all(ch in ALPHABET[:36] for ch in code):
        raise InvalidInput(
            field, f"a product divisions code is 6 capital letters or digits, got {code!r}"
        )
    return code


# --------------------------------------------------------------------------------------------
# Chain of Identity Identifier
# --------------------------------------------------------------------------------------------

_COI_CONTENT = re.compile(r"CH([A-Z0-9]{5})([0-9]{2})([A-Z0-9]{6})")


def parse_chain_of_identity(text: str, field: str = "scan") -> tuple[str, int, str]:
    """Parse Data Structure 040 (``&/CHA999926000003``) into (FIN, year, sequence).

    ST-001 §2.4.40: ``&/`` then fifteen data characters ``CHαppppyynnnnnn``: the literal
    ``CH``, the issuing facility's FIN, the two-digit nominal year of issue and a six-character
    sequence (capital letters and digits). The boxed check character is never bar-coded.
    """
    if not isinstance(text, str) or not text.startswith(COI_IDENTIFIER):
        raise InvalidInput(
            field, f"a chain-of-identity identifier starts with '&/', got {str(text)[:30]!r}"
        )
    match = _COI_CONTENT.fullmatch(text[2:])
    if match is None:
        raise InvalidInput(
            field,
            "expected an ISBT 128 Chain of Identity Identifier: &/CH, the 5-character FIN, "
            f"2-digit year and 6-character sequence; got {text[:30]!r}",
        )
    fin, year, sequence = match.groups()
    validate_fin(fin, field)
    return fin, int(year), sequence


def parse_keyed_coi(text: str, field: str = "scan") -> str:
    """A chain-of-identity identifier typed from its eye-readable text with its check character.

    ``CH A9999 26 000001 8`` (spaces ignored): ``CH``, the FIN, the year, the sequence, then
    the boxed check character, ISO/IEC 7064 mod 37-2 over the 13 characters after ``CH`` (as
    printed beside the identifier, docs/labels.md). Returns Data Structure 040 as bar-coded
    (``&/CHA999926000001``); a wrong check character is refused, naming it.
    """
    compact = "".join(text.split()).upper() if isinstance(text, str) else ""
    if len(compact) != COI_STRUCTURE_LENGTH - len(COI_IDENTIFIER) + 1:
        raise InvalidInput(
            field,
            "type the chain-of-identity identifier as printed: CH, the 5-character FIN, the "
            "2-digit year, the 6-character sequence, then its boxed check character (e.g. "
            f"CH A9999 26 000001 8), got {len(compact)} characters",
        )
    structure = COI_IDENTIFIER + compact[:-1]
    parse_chain_of_identity(structure, field)
    expected, typed = check_character(compact[2:-1]), compact[-1]
    if typed != expected:
        raise WrongCheckCharacter(
            field,
            f"chain-of-identity identifier CH {compact[2:7]} {compact[7:9]} {compact[9:15]}: "
            f"wrong check character: expected {expected}, got {typed} (the identifier or the "
            "check character was mistyped)",
            what="chain-of-identity identifier",
            typed=typed,
            expected=expected,
        )
    return structure


def _coi_structure(text: str, field: str) -> str:
    """Data Structure 040 as bar-coded, checked (the form :attr:`Scan.coi` holds)."""
    parse_chain_of_identity(text, field)
    return text


# --------------------------------------------------------------------------------------------
# Scanner input
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scan:
    """What one scan held; fields not carried by that kind of read are None."""

    kind: ScanKind
    """One data structure (``din``, ``product_code``, ``expiry``, ``divisions``), a 2-D
    ``compound`` message, a ``concatenated`` pair of linear bar codes, or a ``keyed`` DIN or
    chain-of-identity identifier (typed from the eye-readable text with its check character)."""
    text: str
    """The scanned data after removing whitespace and the symbology identifier."""
    din: Din | None = None
    """The DIN."""
    flags: str | None = None
    """The DIN's flag characters (for a keyed DIN without printed flags: the check flags)."""
    product: ProductCode | None = None
    """The product code."""
    expiry: datetime | None = None
    """The expiry, naive local time."""
    divisions: str | None = None
    """The product divisions code (Data Structure 032)."""
    coi: str | None = None
    """The chain-of-identity identifier as bar-coded (Data Structure 040, ``&/CH…``)."""
    structures: int = 1
    """How many data structures the read held."""


_NAMES = {
    "din": "DIN",
    "product_code": "product code",
    "expiry": "expiry",
    "divisions": "product divisions",
    "coi": "chain-of-identity identifier",
}


def _split_symbology(text: str) -> tuple[str | None, str]:
    """The symbology identifier a scanner sent (``]C4``), if any, and the data after it."""
    if not isinstance(text, str):
        raise InvalidInput("scan", f"a scan is text, got {type(text).__name__}")
    cleaned = text.strip()
    match = _SYMBOLOGY_ID.match(cleaned)
    if match:
        return match.group(0), cleaned[match.end() :].strip()
    return None, cleaned


def clean_scan(text: str) -> str:
    """Remove surrounding whitespace, the scanner's Enter and a symbology identifier (``]C0``)."""
    return _split_symbology(text)[1]


def _structure_kind(text: str, field: str) -> tuple[str, int]:
    """Identify the data structure ``text`` starts with; return its kind and fixed length."""
    if text.startswith(PRODUCT_CODE_IDENTIFIER):
        return "product_code", PRODUCT_CODE_STRUCTURE_LENGTH
    if text.startswith(EXPIRY_IDENTIFIER):
        return "expiry", EXPIRY_STRUCTURE_LENGTH
    if text.startswith(DIVISIONS_IDENTIFIER):
        return "divisions", DIVISIONS_STRUCTURE_LENGTH
    if text.startswith(COI_IDENTIFIER):
        return "coi", COI_STRUCTURE_LENGTH
    if text.startswith(COMPOUND_IDENTIFIER):
        return "compound", COMPOUND_HEADER_LENGTH
    if len(text) >= 2 and text[0] == DIN_IDENTIFIER and text[1].isascii() and text[1].isalnum():
        return "din", DIN_STRUCTURE_LENGTH
    if len(text) < 2:
        raise InvalidInput(
            field,
            f"unknown data identifier {text!r}: too short for an ISBT 128 barcode, which "
            "starts with a DIN (=), product code (=<) or expiry (&>)",
        )
    raise InvalidInput(
        field,
        f"unknown data identifier {text[:2]!r}: expected a DIN (=), a product code (=<), "
        "an expiry (&>), product divisions (=,), a chain-of-identity identifier (&/) or a "
        "compound message (=+)",
    )


def _split_structures(content: str, field: str, what: str) -> list[tuple[str, str]]:
    """Cut ``content`` into its data structures: (kind, text) in order; no compound header."""
    parts: list[tuple[str, str]] = []
    rest = content
    while rest:
        position = len(content) - len(rest) + 1
        try:
            kind, length = _structure_kind(rest, field)
        except InvalidInput as exc:
            if parts:
                raise InvalidInput(
                    field,
                    f"{what}: unexpected characters {rest!r} at position {position} after the "
                    f"{', '.join(_NAMES[k] for k, _ in parts)}; {exc.message}",
                ) from None
            raise
        if kind == "compound":
            raise InvalidInput(
                field, f"{what}: a compound message header (=+) at position {position}"
            )
        if len(rest) < length:
            raise InvalidInput(
                field,
                f"{what}: the {_NAMES[kind]} at position {position} is cut short: "
                f"expected {length} characters, got {len(rest)}",
            )
        parts.append((kind, rest[:length]))
        rest = rest[length:]
    return parts


_FIELDS = {
    "product_code": "product",
    "expiry": "expiry",
    "divisions": "divisions",
    "coi": "coi",
}
_PARSERS = {
    "din": parse_din,
    "product_code": parse_product_code,
    "expiry": parse_expiry,
    "divisions": parse_divisions,
    "coi": _coi_structure,
}


def _combine(kind: ScanKind, text: str, parts: list[tuple[str, str]], field: str, what: str):
    """One Scan holding every structure of ``parts``, each kind at most once."""
    values: dict[str, Any] = {}
    for part_kind, part in parts:
        if part_kind in values or (part_kind == "din" and "flags" in values):
            raise InvalidInput(field, f"{what} holds the {_NAMES[part_kind]} twice")
        parsed = _PARSERS[part_kind](part, field)
        if part_kind == "din":
            values["din"], values["flags"] = parsed
        else:
            values[_FIELDS[part_kind]] = parsed
    return Scan(kind, text, structures=len(parts), **values)


def compound_message(*structures: str) -> str:
    """Data Structure 023 and the structures it carries: ``=+`` + count + ``000`` + structures.

    An undefined-sequence compound message (ST-001 §2.4.23): ``bbb`` is ``000``, the order of
    the structures is not fixed, and they follow the header with nothing between them.
    """
    if not 1 <= len(structures) <= 99:
        raise InvalidInput(
            "compound", f"a compound message carries 1–99 structures, got {len(structures)}"
        )
    return f"{COMPOUND_IDENTIFIER}{len(structures):02d}000" + "".join(structures)


def parse_compound(text: str, field: str = "scan") -> Scan:
    """Parse a compound message (``=+03000`` + structures), checking its count and content."""
    content = clean_scan(text)
    header = content[:COMPOUND_HEADER_LENGTH]
    if not content.startswith(COMPOUND_IDENTIFIER) or len(header) < COMPOUND_HEADER_LENGTH:
        raise InvalidInput(
            field, f"a compound message starts with =+ and 5 digits (=+aabbb), got {header!r}"
        )
    count, sequence = header[2:4], header[4:7]
    if not _digits(count + sequence):
        raise InvalidInput(
            field, f"compound message header {header!r}: expected =+ and 5 digits (=+aabbb)"
        )
    if sequence != "000":
        raise InvalidInput(
            field,
            f"compound message {header!r} names the ICCBBA-specified sequence {sequence}; "
            "cellbatch reads undefined-sequence compound messages (=+aa000)",
        )
    parts = _split_structures(content[COMPOUND_HEADER_LENGTH:], field, "compound message")
    if len(parts) != int(count):
        raise InvalidInput(
            field,
            f"compound message says {int(count)} data structures follow, but {len(parts)} "
            + ("does" if len(parts) == 1 else "do"),
        )
    return _combine("compound", content, parts, field, "compound message")


def parse_scan(text: str) -> Scan:
    """Parse what a barcode scanner (or a technician at the keyboard) entered.

    One linear bar code's data structure; an ISBT 128 concatenated read of two linear bar codes
    (``]C4``, or two structures back to back from a scanner that sends no identifier); a 2-D
    compound message (``=+``…, Data Structure 023); or a DIN keyed from its eye-readable text
    with its check character, or a chain-of-identity identifier keyed the same way
    (``CH A9999 26 000001 8``). Surrounding whitespace, the Enter and a symbology identifier
    (``]C0``, ``]d2``, …) are removed first. Every refusal is an ``InvalidInput`` with field
    ``scan`` that says what was expected and what was found.
    """
    symbology, cleaned = _split_symbology(text)
    if not cleaned:
        raise InvalidInput("scan", "nothing was scanned")
    if cleaned[0] not in "=&":
        if symbology is None and cleaned[:2].upper() == "CH":  # a CoI typed as printed
            return Scan("keyed", cleaned, coi=parse_keyed_coi(cleaned, "scan"))
        if symbology is None and any(ch.isdigit() for ch in cleaned):
            try:
                din, flags = parse_keyed_entry(cleaned, "scan")
            except InvalidInput as exc:
                message = (
                    f"{exc.message} (an ISBT 128 barcode starts with = or &; anything else is "
                    "read as a DIN typed with its check character)"
                )
                if isinstance(exc, WrongCheckCharacter):
                    raise exc.with_field("scan", message) from None
                raise InvalidInput("scan", message) from None
            return Scan("keyed", cleaned, din=din, flags=flags)
        _structure_kind(cleaned, "scan")  # raises: unknown data identifier
    if cleaned.startswith(COMPOUND_IDENTIFIER):
        return parse_compound(cleaned)
    kind, length = _structure_kind(cleaned, "scan")
    if len(cleaned) != length and cleaned[length : length + 1] not in ("=", "&"):
        _PARSERS[kind](cleaned, "scan")  # one structure of the wrong length: raises
    parts = _split_structures(cleaned, "scan", "the scan")
    if symbology == CONCATENATED_READ or len(parts) == 2:
        if len(parts) != 2:
            raise InvalidInput(
                "scan",
                f"a concatenated read ({CONCATENATED_READ}) holds two bar codes, got "
                f"{len(parts)} data structure{'s' if len(parts) != 1 else ''}",
            )
        return _combine("concatenated", cleaned, parts, "scan", "concatenated read")
    if len(parts) > 2:
        raise InvalidInput(
            "scan",
            f"{len(parts)} data structures with no compound message header: a 2-D symbol "
            "carrying several data structures begins with Data Structure 023 (=+aabbb, "
            "ST-001 §2.4.23)",
        )
    return _combine(parts[0][0], cleaned, parts, "scan", "scan")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Data Matrix
# --------------------------------------------------------------------------------------------


class BagMatrix(NamedTuple):
    """What a bag label's Data Matrix carries (:func:`parse_datamatrix`)."""

    din: Din
    flags: str
    product: ProductCode
    expiry: datetime
    coi: str | None
    """The chain-of-identity identifier (``&/CH…``), on labels that carry it; else None."""


def datamatrix_content(
    din: Din,
    flags: str,
    product: ProductCode,
    expiry: datetime | date,
    coi: str | None = None,
) -> str:
    """The bag label's Data Matrix: a compound message of the DIN, product code and expiry.

    ``=+03000`` (Data Structure 023: three structures follow, undefined sequence), then
    ``=`` DIN flags, ``=<`` product, ``&>`` expiry, with nothing between them; a label that
    carries the recipient's chain-of-identity identifier adds it (``&/CH…``, Data Structure
    040) as a fourth structure (``=+04000``).
    """
    structures = [
        din.data_structure(flags),
        product.data_structure(),
        expiry_data_structure(expiry),
    ]
    if coi is not None:
        structures.append(_coi_structure(coi, "coi"))
    return compound_message(*structures)


def parse_datamatrix(text: str, field: str = "scan") -> BagMatrix:
    """Split a bag label's Data Matrix into DIN, flags, product code, expiry (and CoI).

    It must be a compound message carrying exactly those three structures, and optionally
    the chain-of-identity identifier (Data Structure 040), in any order.
    """
    scan = parse_compound(text, field)
    parts = (("DIN", scan.din), ("product code", scan.product), ("expiry", scan.expiry))
    missing = [name for name, value in parts if value is None]
    if missing or scan.divisions is not None:
        raise InvalidInput(
            field,
            "a bag label's Data Matrix holds the DIN, product code and expiry"
            + (f"; missing: {', '.join(missing)}" if missing else "; it also holds divisions"),
        )
    return BagMatrix(scan.din, scan.flags, scan.product, scan.expiry, scan.coi)  # type: ignore[arg-type]
