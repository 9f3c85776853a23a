"""Text people type into a record, checked once on the way in and made safe on the way out.

Three kinds of typed text, each with one rule here that every door (command line, terminal
UI, correction) reaches through the services:

* **Free text** (reasons, descriptions, a QC method, a material's name, a donor's marker):
  :func:`typed_text`. Readable Unicode, at most :data:`MAX_TEXT` characters, nothing that
  hides, reorders or steers what a reader sees.
* **Identifiers** (lot numbers, codes, storage locations): an :class:`IdentifierRule`, a
  narrow ASCII pattern, so that two records can never look alike and differ.
* **Output**: :func:`visible` shows any stored character that could steer a terminal or hide
  text (stored before these rules existed, or by a program fault) as ``<U+001B>``.

The table columns take their lengths from the limits defined here (``cellbatch.db.tables``),
so a text the rule accepts always fits its column, on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from cellbatch.domain.errors import InvalidInput

MAX_TEXT = 2000
"""Longest free text kept in one field (a reason, an investigation, a method, a marker)."""

MAX_NAME = 200
"""Longest printed full name of a person (it is printed on every signature)."""

MAX_COMBINING = 4
"""Most combining marks one character may carry (more only stacks marks over other lines)."""

_INVISIBLE = {"Cc", "Cf", "Zl", "Zp", "Zs", "Mn", "Me"}
"""Unicode categories that show nothing by themselves: controls, format marks, spaces, marks."""

_KINDS_REFUSED = {
    "Cc": "the control character",
    "Cf": "the invisible formatting character",
    "Zl": "the line separator",
    "Zp": "the paragraph separator",
    "Co": "the private-use character",
    "Cn": "the unassigned character",
}
"""Categories that free text may not hold, with what they are called in a refusal."""

_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Characters that reorder the text around them (bidi marks, embeddings, overrides, isolates)."""


def _name(ch: str) -> str:
    """``U+200B (ZERO WIDTH SPACE)``: a character as a refusal or a printout names it."""
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" ({name})" if name else "")


def _refused(ch: str, *, one_line: bool) -> str | None:
    """What ``ch`` is, when free text may not hold it (None: it may)."""
    if ch in "\n\t":
        return ("a line break" if ch == "\n" else "a tab") if one_line else None
    category = unicodedata.category(ch)
    if category == "Cs":
        return "bytes that are not valid UTF-8 text"
    if ch in _BIDI:
        return f"the text-direction control {_name(ch)}"
    kind = _KINDS_REFUSED.get(category)
    return f"{kind} {_name(ch)}" if kind else None


def typed_text(
    text: str | None,
    field: str,
    *,
    what: str,
    limit: int = MAX_TEXT,
    one_line: bool = False,
) -> str:
    """``text`` as kept: NFC-normalised and trimmed; refused naming ``field`` if unreadable.

    Refused: nothing readable (empty, spaces, a zero-width space), control characters (the
    terminal's bell, an escape sequence, a carriage return), invisible formatting and
    text-direction characters, line or paragraph separators, private-use or unassigned code
    points, bytes that are not UTF-8 (lone surrogates), a character carrying more than
    :data:`MAX_COMBINING` combining marks, more than ``limit`` characters. Line breaks and
    tabs are kept unless ``one_line``.
    """
    value = unicodedata.normalize("NFC", text or "").strip()
    if not any(unicodedata.category(ch) not in _INVISIBLE for ch in value):
        raise InvalidInput(field, f"expected {what}, got nothing that can be read")
    if len(value) > limit:
        raise InvalidInput(
            field, f"expected {what} of at most {limit} characters, got {len(value)}"
        )
    marks = 0
    for ch in value:
        bad = _refused(ch, one_line=one_line)
        if bad is not None:
            where = "on one line" if one_line and ch in "\n\t" else "as plain text"
            raise InvalidInput(field, f"expected {what} {where}, got {bad}")
        marks = marks + 1 if unicodedata.combining(ch) else 0
        if marks > MAX_COMBINING:
            raise InvalidInput(
                field,
                f"expected {what} as plain text, got a character with more than "
                f"{MAX_COMBINING} marks stacked on it",
            )
    return value


def encoding_error(text: str) -> str | None:
    """Why ``text`` is not valid UTF-8 (it holds lone surrogates), or None if it is.

    On Linux, bytes on the command line that are not UTF-8 arrive as lone surrogates
    (U+DC80 to U+DCFF stand for the bytes 0x80 to 0xFF); no database can store them.
    """
    bad = next((ch for ch in text if 0xD800 <= ord(ch) <= 0xDFFF), None)
    if bad is None:
        return None
    code = ord(bad)
    byte = f" (the byte 0x{code - 0xDC00:02X})" if 0xDC80 <= code <= 0xDCFF else ""
    return f"the text is not valid UTF-8{byte}; expected text in UTF-8"


_SPACES = re.compile(r" {2,}")


@dataclass(frozen=True)
class IdentifierRule:
    """The narrow pattern of one kind of identifier: ASCII only, so nothing looks alike."""

    what: str
    """What the identifier is, in a refusal: ``"a supplier's lot number"``."""
    pattern: re.Pattern[str]
    """The whole identifier, after trimming (and upper-casing, when ``upper``)."""
    max_length: int
    """Longest identifier; its column is this long."""
    allowed: str
    """The pattern and its length in words, for the refusal."""
    upper: bool = False
    """Kept in capitals (``fuc-d001`` is ``FUC-D001``)."""

    def check(self, text: str | None, field: str, *, what: str | None = None) -> str:
        """The identifier as kept (trimmed, single spaces); refused naming ``field``.

        A scanner's trailing Enter or Tab is trimmed; any other character outside the pattern
        (a zero-width space, a Cyrillic letter, a no-break space) is refused, never dropped.
        """
        raw = _SPACES.sub(" ", (text or "").strip(" \t\r\n"))
        value = raw.upper() if self.upper and raw.isascii() else raw  # "ß".upper() is "SS"
        if len(value) <= self.max_length and self.pattern.fullmatch(value):
            return value
        bad = next((ch for ch in value if not ch.isascii() or not ch.isprintable()), None)
        if not value:
            problem = "got nothing"
        elif encoding_error(value):
            problem = "got bytes that are not valid UTF-8 text"
        elif bad is not None:
            problem = f"got {_name(bad)}"
        elif len(value) > self.max_length:
            problem = f"got {len(value)} characters"
        else:
            problem = f"got {value!r}"
        raise InvalidInput(field, f"expected {what or self.what}: {self.allowed}; {problem}")


MAX_CODE = 40
"""Longest code (batch, donor, tissue lot, recipient)."""

CODE = IdentifierRule(
    "a code",
    re.compile(r"[A-Z0-9][A-Z0-9-]+"),
    MAX_CODE,
    f"2–{MAX_CODE} capital letters, digits or '-'",
    upper=True,
)
"""Batch, donor, tissue lot and recipient codes: ``EASC-B001``."""

MAX_KEY = 60
"""Longest SOP ID, QC test key or parameter name (their columns are this long; the SOP's keys
are checked against it in :mod:`cellbatch.domain.sop`)."""

MAX_SUPPLIER_LOT = 60
"""Longest supplier's lot number of a material."""

SUPPLIER_LOT = IdentifierRule(
    "the supplier's lot number",
    re.compile(r"[A-Za-z0-9][A-Za-z0-9._/#+-]*(?: [A-Za-z0-9._/#+-]+)*"),
    MAX_SUPPLIER_LOT,
    f"1–{MAX_SUPPLIER_LOT} ASCII letters and digits, also '.', '_', '/', '#', '+', '-' and "
    "single spaces inside",
)
"""A material lot number as the supplier prints it: ``RNBK-2291``, ``23/0415 A``."""

MAX_LOCATION = 60
"""Longest storage location (tank / rack / box) typed for a freeze."""

MAX_VIAL_LOCATION = MAX_LOCATION + 20
"""Longest location of one vial: the storage location and `` / position NNNN``."""

MAX_POSITION = 9999
"""Highest box position a vial may be given."""

LOCATION = IdentifierRule(
    "the storage location (tank / rack / box)",
    re.compile(r"[A-Za-z0-9][A-Za-z0-9./,:#()_-]*(?: [A-Za-z0-9./,:#()_-]+)*"),
    MAX_LOCATION,
    f"1–{MAX_LOCATION} ASCII letters and digits, also '/', '.', ',', ':', '#', '(', ')', '_', "
    "'-' and single spaces inside, e.g. 'LN2 tank 2 / rack 3 / box 12'",
)
"""Where frozen vials are stored: ``LN2 tank 2 / rack 3 / box 12``."""


_STEERING = {"Cc", "Cf", "Cs", "Zl", "Zp"}
"""Categories of characters a terminal may act on, or that hide or reorder text."""


def steers(ch: str) -> bool:
    """True for a character that could steer a terminal or hide text (a tab or line break too)."""
    return unicodedata.category(ch) in _STEERING


def visible(text: str, *, keep_lines: bool = True) -> str:
    """``text`` with every character that could steer a terminal or hide text made visible.

    Escape (and so every ANSI/CSI sequence), C1 controls (U+0080–U+009F, e.g. the one-byte
    CSI), carriage return, backspace, bidi overrides and isolates, zero-width and other
    invisible format characters, line/paragraph separators and lone surrogates are shown as
    ``<U+001B>``. Line breaks and tabs stay when ``keep_lines``, else they are shown too.
    Used for everything the command line prints and everything the batch record prints.
    """
    if text.isascii() and text.isprintable():
        return text
    return "".join(
        f"<U+{ord(ch):04X}>" if steers(ch) and not (keep_lines and ch in "\n\t") else ch
        for ch in text
    )
