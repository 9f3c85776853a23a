"""Printing stored values of any length and content, so that no value makes a PDF unprintable.

A record must print whatever it holds: a 10 kB marker name, a QC method without a single
space, a value stored before the text rule existed with escape sequences or lone surrogates
in it. Three things make that so, for every document that lays out stored values:

* :func:`printable` turns a value into paragraph markup: escaped for reportlab's mini-HTML,
  with every invisible or terminal-steering character shown as ``<U+001B>`` (and lone
  surrogates, which no PDF font can encode, shown the same way);
* :data:`BREAK_LONG_WORDS`: paragraph styles break a word wider than its column inside the
  word, instead of running off the page;
* :class:`LongValues`: a value longer than :data:`CELL_CHARS` is printed in its cell up to
  that length and in full, as flowing text, in an appendix the cell points to; a table never
  holds more than a page of one value, and laying it out stays fast;
* :func:`breakable_table`: a table whose rows may break across pages, so that no cell, however
  long its text, is taller than a page (reportlab's LayoutError).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib.styles import ParagraphStyle
from reportlab.platypus import Flowable, Paragraph, Table, TableStyle
from reportlab.platypus.doctemplate import LayoutError

from cellbatch.documents.fonts import REGULAR
from cellbatch.domain.text import visible

CELL_CHARS = 500
"""Most characters of one value printed inside a table cell: about ten lines of a column;
longer values (a 2000-character reason) are printed in full in the notes appendix, which
keeps every row of a table shorter than a page and the layout fast."""

BREAK_LONG_WORDS: dict[str, Any] = {"splitLongWords": 1}
"""Paragraph style settings that break a word longer than its line (reportlab's default, kept
explicit because a record must never lose text off the edge of the page)."""


def printable(text: str) -> str:
    """``text`` as paragraph markup: escaped, with invisible characters shown as ``<U+XXXX>``."""
    return escape(visible(text))


def breakable_table(
    data: list[list[Any]], col_widths: list[float], *, split_rows: bool, **kwargs: Any
) -> Table:
    """A table whose rows break across pages (``split_rows``) when a cell is taller than a page.

    Breaking rows costs layout time, so a document is built without it first and only built
    again with it when a row did not fit (:func:`build_with_rows_breaking_if_needed`). Its
    cells' font is DejaVu Sans: reportlab sets a cell's font even for a paragraph in it, and
    its default (Helvetica) would be declared in the file without being embedded.
    """
    table = Table(data, colWidths=col_widths, splitInRow=1 if split_rows else 0, **kwargs)
    table.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), REGULAR)]))
    return table


def build_with_rows_breaking_if_needed(build: Callable[[bool], bytes]) -> bytes:
    """``build(False)``; ``build(True)`` (table rows may break) if a row was taller than a page."""
    try:
        return build(False)
    except LayoutError:
        return build(True)


@dataclass
class LongValues:
    """Values too long for a table cell: clipped there, printed in full in an appendix."""

    limit: int = CELL_CHARS
    notes: list[str] = field(default_factory=list)
    split_rows: bool = False
    """Whether the tables being laid out may break a row across pages."""

    def clip(self, text: str) -> str:
        """``text`` itself, or its first ``limit`` characters and where the rest is printed."""
        if len(text) <= self.limit:
            return text
        self.notes.append(text)
        rest = len(text) - self.limit
        return f"{text[: self.limit]} … [{rest} more characters: see note L{len(self.notes)}]"

    def appendix(self, heading: ParagraphStyle, body: ParagraphStyle) -> list[Flowable]:
        """The values clipped so far, each in full under its note number (none: nothing)."""
        if not self.notes:
            return []
        story: list[Flowable] = [
            Paragraph("Appendix: values too long for a table cell, in full", heading)
        ]
        for number, text in enumerate(self.notes, start=1):
            story.append(Paragraph(f"<b>Note L{number}</b> ({len(text)} characters)", body))
            story.append(Paragraph(printable(text), body))
        return story
