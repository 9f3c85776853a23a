"""Free text people type into a record (reasons, names, titles), checked before it is kept."""

from __future__ import annotations

import unicodedata

from cellbatch.domain.errors import InvalidInput

MAX_TEXT = 2000
"""Longest free text kept in one field (a reason, an investigation, a title)."""

_INVISIBLE = {"Cc", "Cf", "Zl", "Zp", "Zs"}
"""Unicode categories that show nothing: controls, format marks (zero-width), spaces."""


def typed_text(text: str | None, field: str, *, what: str, limit: int = MAX_TEXT) -> str:
    """``text`` trimmed; refused when empty, invisible, too long or holding control characters.

    A reason made of a zero-width space, or one that rings the terminal's bell, is no reason.
    """
    value = (text or "").strip()
    if not any(unicodedata.category(ch) not in _INVISIBLE for ch in value):
        raise InvalidInput(field, f"expected {what}, got nothing that can be read")
    bad = next(
        (ch for ch in value if unicodedata.category(ch) in ("Cc", "Cf") and ch not in "\n\t"),
        None,
    )
    if bad is not None:
        raise InvalidInput(
            field, f"expected {what} as plain text, got the control character U+{ord(bad):04X}"
        )
    if len(value) > limit:
        raise InvalidInput(
            field, f"expected {what} of at most {limit} characters, got {len(value)}"
        )
    return value
