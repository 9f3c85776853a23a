"""A stored value as a reviewer reads it: in the unit technicians use, taken from the SOP.

Values are stored as plain numbers in their measure's canonical unit (and written to the
audit trail and the corrections that way, exactly, by :func:`cellbatch.units.fmt_plain`). To
show one, its measure comes from where the value is defined: the domain's step kind
(:mod:`cellbatch.domain.steps`), the batch's SOP (a step's parameter, a QC test) or a table
column's declared measure; :func:`cellbatch.units.fmt` writes it. There is no second table of
units here.
"""

from __future__ import annotations

from datetime import datetime

from cellbatch import units
from cellbatch.domain.errors import InvalidInput, NotFound
from cellbatch.domain.sop import Sop, parameter_measure
from cellbatch.domain.steps import kind_of
from cellbatch.domain.timeparse import as_utc

__all__ = ["measure_of", "shown_correction", "shown_time", "shown_value"]


def shown_time(text: str) -> str:
    """A stored time (ISO 8601, naive UTC or with offset) as ``2026-11-22 03:17:45 UTC``."""
    try:
        moment = as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except (TypeError, ValueError):
        return text
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def measure_of(sop: Sop | None, step_kind: str | None, name: str) -> units.Measure | None:
    """The measure of a step value ``name``.

    The step kind's own (the domain's step kinds, as the batch view shows the value), else the
    SOP step's parameter, else any known kind's parameter of that name.
    """
    if step_kind is not None:
        try:
            key = kind_of(step_kind).measure_of(name)
        except NotFound:
            key = None
        if key is not None:
            return units.MEASURES[key]
        step = next((s for s in sop.steps if s.kind == step_kind), None) if sop else None
        if step is not None and step.has_param(name):
            return step.param(name).measure
    key = parameter_measure(name)
    return units.MEASURES[key] if key else None


def _number(value: object) -> float | None:
    """A stored number (a float, or its text as written to the audit trail), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def shown_value(value: object, measure: units.Measure | None) -> str:
    """``value`` of ``measure`` in the unit technicians use (``82.0`` → ``82.0 %``).

    Text written by :func:`cellbatch.units.fmt_plain` (``37 degC``) is read back first; a value
    with no measure, or one that is not a number, is shown as it is.
    """
    if measure is None:
        return str(value)
    number = _number(value)
    if number is None and isinstance(value, str):
        try:
            number = units.parse(value, measure, field="value")
        except InvalidInput:
            return value
    return str(value) if number is None else units.fmt(number, measure)


def shown_correction(
    sop: Sop, entity: str, step_kind: str | None, qc_id: str | None, field: str, text: str
) -> str:
    """A corrected value (old or new) of a step entry or QC result, with its unit."""
    if not text:
        return text
    if entity == "qc_result":
        test = next((t for t in sop.qc if t.id == qc_id), None)
        return shown_value(text, test.measure if test is not None else None)
    if field == "at":
        return shown_time(text)
    return shown_value(text, measure_of(sop, step_kind, field))
