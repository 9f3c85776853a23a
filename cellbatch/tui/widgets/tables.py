"""Tables that fit the terminal: fixed narrow columns and one that wraps in what is left.

At 80 columns a table of long sentences (a checklist criterion, an audit entry) cannot show
every column at its natural width; rather than cut the text off at the right edge, one column
takes the width that remains and its cells wrap onto as many lines as they need.
"""

from __future__ import annotations

from textual.widgets import DataTable

MIN_FLEX = 20
"""Narrowest the wrapping column gets, even on a very small terminal."""

_CELL_PADDING = 2
_SCROLLBAR_AND_MARGIN = 4


def fit_columns(table: DataTable, columns: list[tuple[str, int | None]], total: int) -> None:
    """Add ``columns`` (label, width); the one whose width is None takes the rest of ``total``.

    Rows added with ``add_row(..., height=None)`` then wrap in that column.
    """
    fixed = sum(w + _CELL_PADDING for _label, w in columns if w is not None)
    flex = max(MIN_FLEX, total - fixed - _CELL_PADDING - _SCROLLBAR_AND_MARGIN)
    for label, width in columns:
        table.add_column(label, width=flex if width is None else width)
