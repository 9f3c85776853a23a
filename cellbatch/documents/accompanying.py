"""The accompanying document printed with each issued bag (A5 PDF, fonts embedded).

Laid out first (:func:`layout`: every string, box and bar code with its position, pure
arithmetic with reportlab's font metrics), then drawn (:func:`render`), so what is printed can
be checked before it is: no text runs past the right margin (long values wrap), and each boxed
check character stands on its identifier's line. Bar codes: the DIN (Data Structure 001, with
the document's flags, docs/labels.md) and the chain-of-identity identifier (Data Structure
040), each Code 128 with its eye-readable text.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from reportlab.lib.pagesizes import A5
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth

from cellbatch.documents.barcodes import LinearSpec, code128_width, draw_code128
from cellbatch.documents.fonts import (
    BOLD,
    MONO,
    MONO_BOLD,
    REGULAR,
    embedded_canvas,
    register_fonts,
)
from cellbatch.domain.errors import RuleViolation
from cellbatch.services.queries.accompanying import AccompanyingDocument

MARGIN = 12 * mm
"""Left and right margin of the page: every text and bar code stays between them."""
VALUE_X = 50 * mm
"""Where the values' column starts."""
_SPEC = LinearSpec(narrow_bar_mm=0.25, height_mm=10)
_BARCODES_TOP = 52 * mm
"""The text stands above this line; the bar codes below it."""
_PAD = 0.5 * mm


@dataclass(frozen=True)
class Text:
    """One string drawn at (x, y), its baseline; ``turned`` is drawn turned 90° clockwise."""

    x: float
    y: float
    text: str
    font: str
    size: float
    turned: bool = False

    @property
    def right(self) -> float:
        """Where the string ends on the page (its x for turned text, which runs downward)."""
        if self.turned:
            return self.x + self.size
        return self.x + stringWidth(self.text, self.font, self.size)


@dataclass(frozen=True)
class Box:
    """A rectangle (a check character's box): lower-left corner, width, height."""

    x: float
    y: float
    width: float
    height: float
    of: str
    """What it boxes: ``din`` or ``coi``."""

    @property
    def right(self) -> float:
        """Its right edge."""
        return self.x + self.width


@dataclass(frozen=True)
class Barcode:
    """A Code 128 symbol, lower-left corner (quiet zone included) at (x, y)."""

    x: float
    y: float
    data: str

    @property
    def right(self) -> float:
        """Its right edge, quiet zone included."""
        return self.x + code128_width(self.data, _SPEC)


@dataclass(frozen=True)
class Page:
    """Everything the document draws, with the line of each identifier (for its check box)."""

    width: float
    height: float
    items: tuple[Text | Box | Barcode, ...]
    lines: dict[str, float]
    """The baseline of each identifier's line: ``din``, ``coi``."""

    @property
    def frame_right(self) -> float:
        """The right margin: nothing is drawn past it."""
        return self.width - MARGIN


def wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """``text`` broken at spaces into lines no wider than ``width`` (a longer word is refused)."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if stringWidth(candidate, font, size) <= width:
            line = candidate
            continue
        if stringWidth(word, font, size) > width:
            raise RuleViolation(
                f"the accompanying document cannot print {word[:40]!r}: wider than its column"
            )
        lines.append(line)
        line = word
    if line:
        lines.append(line)
    return lines or [""]


def _boxed(items: list, x: float, y: float, text: str, check: str, size: float, of: str,
           flags: str | None = None) -> None:  # fmt: skip
    """``text`` in bold mono, its flags turned beside it, and its check character boxed."""
    items.append(Text(x, y, text, MONO_BOLD, size))
    after = x + stringWidth(text, MONO_BOLD, size) + 1.2 * mm
    if flags:
        # ST-001 §7.4.1: type 1 flags printed beside the DIN, turned 90° clockwise
        items.append(Text(after + 0.3 * mm, y + size * 0.73, flags, MONO, 6, turned=True))
        after += 2.8 * mm
    char = stringWidth(check, MONO_BOLD, size)
    items.append(Box(after, y - _PAD - size * 0.1, char + 2 * _PAD, size * 0.85 + 2 * _PAD, of))
    items.append(Text(after + _PAD, y, check, MONO_BOLD, size))


def layout(doc: AccompanyingDocument) -> Page:
    """Where every part of the document goes on an A5 page; refused if it does not fit."""
    register_fonts()
    width, height = A5
    right = width - MARGIN
    column = right - VALUE_X
    items: list[Text | Box | Barcode] = []
    lines: dict[str, float] = {}
    y = height - 16 * mm
    for line in wrap("Accompanying document — cell therapy product", BOLD, 12, right - MARGIN):
        items.append(Text(MARGIN, y, line, BOLD, 12))
        y -= 5.5 * mm
    y -= 2 * mm

    def row(label: str, value: str, *, font: str = REGULAR, size: float = 10) -> None:
        nonlocal y
        items.append(Text(MARGIN, y, label, BOLD, 10))
        for line in wrap(value, font, size, column):
            items.append(Text(VALUE_X, y, line, font, size))
            y -= size * 0.45 * mm
        y -= 2.5 * mm

    def identifier_row(label: str, key: str, text: str, check: str, flags: str | None) -> None:
        nonlocal y
        items.append(Text(MARGIN, y, label, BOLD, 10))
        _boxed(items, VALUE_X, y, text, check, 10, key, flags)
        lines[key] = y
        y -= 4.5 * mm + 2.5 * mm

    row("Product", doc.product)
    row("Batch / bag", f"{doc.batch} bag {doc.bag}")
    identifier_row("DIN", "din", doc.din_eye_readable, doc.din_check, doc.din_flags)
    row("Product code", doc.product_code, font=MONO_BOLD)
    row("Recipient ID", f"{doc.recipient} (infusion {doc.infusion})")
    if doc.coi_eye_readable and doc.coi_check:
        identifier_row("Chain of identity", "coi", doc.coi_eye_readable, doc.coi_check, None)
    else:
        row("Chain of identity", "none assigned")
    row("Released by", f"{doc.released_by}, {doc.released_at}")
    row("EXPIRES", doc.expires_at, font=BOLD)
    y -= 1.5 * mm
    row("Storage", doc.storage, size=9)
    row("Infusion", doc.instructions, size=9)
    if y + 2.5 * mm < _BARCODES_TOP + 4 * mm:
        raise RuleViolation("the accompanying document's text does not fit above its bar codes")
    items.append(Barcode(MARGIN, 37 * mm, doc.din_data))
    items.append(Text(MARGIN, 33 * mm, f"DIN {doc.din_eye_readable} (flags {doc.din_flags}: "
                      "a document, to match with the bag's label)", REGULAR, 8))  # fmt: skip
    if doc.coi:
        items.append(Barcode(MARGIN, 16 * mm, doc.coi))
        items.append(Text(MARGIN, 12 * mm, f"Chain of identity {doc.coi}", REGULAR, 8))
    page = Page(width, height, tuple(items), lines)
    for item in page.items:
        if item.right > page.frame_right + 1e-6:
            raise RuleViolation(f"the accompanying document runs past its margin at {item!r}")
    return page


def render(doc: AccompanyingDocument) -> bytes:
    """The document as PDF bytes."""
    page = layout(doc)
    buffer = io.BytesIO()
    canvas = embedded_canvas(buffer, (page.width, page.height))
    canvas.setLineWidth(0.6)
    for item in page.items:
        if isinstance(item, Barcode):
            draw_code128(canvas, item.data, item.x, item.y, _SPEC)
        elif isinstance(item, Box):
            canvas.rect(item.x, item.y, item.width, item.height)
        elif item.turned:
            canvas.saveState()
            canvas.translate(item.x, item.y)
            canvas.rotate(-90)
            canvas.setFont(item.font, item.size)
            canvas.drawString(0, 0, item.text)
            canvas.restoreState()
        else:
            canvas.setFont(item.font, item.size)
            canvas.drawString(item.x, item.y, item.text)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()
