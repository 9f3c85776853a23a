"""The ISBT 128 Chain of Identity (CoI) Identifier: Data Structure 040 of ST-001.

As ST-001 (v6.2.2, section 2.4.40) defines it: the data identifier ``&/`` followed by fifteen
data characters ``CHαppppyynnnnnn``:

- ``CH``: the literal;
- ``αpppp``: the Facility Identification Number of the issuing organisation (α from {A–N,
  P–Z, 1–9}; pppp: two alphanumerics then two digits; the FIN rules of the DIN);
- ``yy``: the nominal year of issue, two digits;
- ``nnnnnn``: a six-character alphanumeric sequence number {A–Z, 0–9}, assigned by the
  issuing organisation.

The check character printed in a box beside the eye-readable identifier is the ISO/IEC 7064
mod 37-2 check character over the thirteen characters ``αppppyynnnnnn``, computed as the DIN's
(ST-001 Table 3 uses the same check over the DIN's thirteen characters). The assignment rules
of ST-028 (the CoI standard) could not be consulted; that the boxed check covers these thirteen
characters, as for the DIN, is this program's reading, stated in docs/clinic.md. The check
character is never part of the bar-coded data structure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cellbatch.domain.errors import InvalidInput
from cellbatch.isbt128 import (
    COI_IDENTIFIER,
    check_character,
    clean_scan,
    parse_chain_of_identity,
    validate_fin,
)

DATA_IDENTIFIER = COI_IDENTIFIER
"""The two data identifier characters of Data Structure 040."""

LITERAL = "CH"
"""The literal that begins the data content."""

_SEQUENCE = re.compile(r"[A-Z0-9]{6}")


@dataclass(frozen=True)
class ChainOfIdentity:
    """One CoI identifier: issuing facility, year of issue, sequence."""

    fin: str
    year: int
    sequence: str

    def __post_init__(self) -> None:
        validate_fin(self.fin, "fin")
        if not 0 <= self.year <= 99:
            raise InvalidInput("year", f"expected a two-digit year, got {self.year}")
        if not _SEQUENCE.fullmatch(self.sequence):
            raise InvalidInput(
                "sequence", f"expected six capital letters or digits, got {self.sequence!r}"
            )

    @property
    def checked_characters(self) -> str:
        """The thirteen characters ``αppppyynnnnnn`` the check character covers."""
        return f"{self.fin}{self.year:02d}{self.sequence}"

    @property
    def data_content(self) -> str:
        """The fifteen data characters ``CHαppppyynnnnnn``."""
        return LITERAL + self.checked_characters

    @property
    def code(self) -> str:
        """The data structure as bar-coded: ``&/`` and the data content (17 characters)."""
        return DATA_IDENTIFIER + self.data_content

    @property
    def check(self) -> str:
        """The mod 37-2 check character printed in a box after the eye-readable form."""
        return check_character(self.checked_characters)

    def eye_readable(self) -> str:
        """``CH W1234 26 000001`` (the box with :attr:`check` is drawn beside it)."""
        return f"{LITERAL} {self.fin} {self.year:02d} {self.sequence}"


def sequence_text(number: int) -> str:
    """A sequence number as six digits (this program assigns numeric sequences)."""
    if not 1 <= number <= 999_999:
        raise InvalidInput("sequence", f"the CoI sequence {number} is out of 1 to 999999")
    return f"{number:06d}"


def parse_coi(scan: str, field: str = "scan") -> ChainOfIdentity:
    """A scanned Data Structure 040 (``&/CH...``), else InvalidInput naming ``field``.

    The one parser of the structure is :func:`cellbatch.isbt128.parse_chain_of_identity`
    (what ``parse_scan`` reads from a label's bar code or Data Matrix too).
    """
    fin, year, sequence = parse_chain_of_identity(clean_scan(scan), field)
    return ChainOfIdentity(fin=fin, year=year, sequence=sequence)
