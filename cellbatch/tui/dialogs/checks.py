"""Checks of a dialog's fields as typed, each one the domain's own rule (nothing decided here).

Each function returns a check for :class:`~cellbatch.tui.dialogs.form.DialogField`: it takes
the typed text and answers ``ok`` (with the value as the service will get it), ``warn`` or
``error`` with a message in the form's words. The service checks everything again on save.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from cellbatch.tui.forms import Check

CheckFn = Callable[[str], Check]
"""A check of one field's typed text."""


def _guard(read: Callable[[str], Check]) -> CheckFn:
    """Turn the domain's refusal into an ``error`` verdict with its message."""

    def check(text: str) -> Check:
        from cellbatch.domain.errors import InvalidInput

        try:
            return read(text)
        except InvalidInput as error:
            return Check("error", f"✗ {error.message}")

    return check


def code(what: str = "a code") -> CheckFn:
    """A batch, donor, tissue-lot or recipient code (the domain's code rule)."""
    from cellbatch.domain.text import CODE

    return _guard(lambda text: Check("ok", "✓", CODE.check(text, "code", what=what)))


def supplier_lot() -> CheckFn:
    """A material lot number as the supplier prints it."""
    from cellbatch.domain.text import SUPPLIER_LOT

    return _guard(lambda text: Check("ok", "✓", SUPPLIER_LOT.check(text, "lot")))


def one_line(what: str) -> CheckFn:
    """Readable text on one line (a name, a relationship)."""
    from cellbatch.domain.text import typed_text

    return _guard(lambda text: Check("ok", "✓", typed_text(text, "text", what=what, one_line=True)))


def free_text(what: str) -> CheckFn:
    """Readable text (an investigation, a reason)."""
    from cellbatch.domain.text import typed_text

    return _guard(lambda text: Check("ok", "✓", typed_text(text, "text", what=what)))


def quantity(measure: str) -> CheckFn:
    """A value with its unit (``20 kg``); the text goes to the service, which reads it again."""

    def read(text: str) -> Check:
        from cellbatch import units

        value = units.parse(text, measure, field="value")
        return Check("ok", f"✓ {units.fmt(value, measure)}", text.strip())

    return _guard(read)


def whole_number(low: int = 1, high: int | None = None) -> CheckFn:
    """A whole number (an infusion number, a year), within the bounds the form knows."""

    def read(text: str) -> Check:
        raw = text.strip()
        if not raw.isdigit():
            return Check("error", f"✗ expected a whole number, got {raw[:20]!r}")
        value = int(raw)
        if value < low or (high is not None and value > high):
            bounds = f"{low} to {high}" if high is not None else f"{low} or more"
            return Check("error", f"✗ expected {bounds}, got {value}")
        return Check("ok", f"✓ {value}", value)

    return read


def date_value() -> CheckFn:
    """A date, ``YYYY-MM-DD``."""
    from cellbatch.domain.timeparse import parse_date

    return _guard(lambda text: Check("ok", "✓", parse_date(text, field="date")))


def date_time() -> CheckFn:
    """A date and time, ``YYYY-MM-DD HH:MM`` (local, or with an offset)."""
    from cellbatch.domain.timeparse import parse_datetime

    def read(text: str) -> Check:
        value = parse_datetime(text, field="time")
        return Check("ok", f"✓ {value:%Y-%m-%d %H:%M} UTC", value)

    return _guard(read)


def one_of(values: Sequence[str], *, upper: bool = False) -> CheckFn:
    """One of a short list (the list is shown when something else is typed)."""

    def read(text: str) -> Check:
        raw = text.strip().upper() if upper else text.strip()
        if raw in values:
            return Check("ok", "✓", raw)
        return Check("error", f"✗ expected one of {', '.join(values)}")

    return read


def on_list(
    values: Callable[[], Sequence[str] | None], what: str, *, upper: bool = True
) -> CheckFn:
    """A value picked from a list loaded from the record (a released bank, an approved SOP)."""

    def read(text: str) -> Check:
        known = values()
        raw = text.strip().upper() if upper else text.strip()
        if known is None:
            return Check("ok", "✓ (list still loading)", raw)
        if raw in known:
            return Check("ok", "✓", raw)
        shown = ", ".join(list(known)[:6]) or "none"
        return Check("error", f"✗ not {what} (these are: {shown})")

    return read
