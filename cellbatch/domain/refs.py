"""How people name records: ``E12`` (a step entry), ``Q5`` (a QC result), ``D3`` (a deviation).

One reading of those names for every command: ASCII digits only (``E²`` and ``E١٢`` are not
record numbers), and a number larger than any record id can be is simply no such record,
never a number the database is asked about (it would overflow its integer column).
"""

from __future__ import annotations

import re

from cellbatch.domain.errors import InvalidInput, NotFound

MAX_RECORD_ID = 2**31 - 1
"""The largest id a record can have (an INTEGER primary key on PostgreSQL)."""

MAX_COUNT = 2**31 - 1
"""The largest count or page size a command accepts (``--limit``, ``--offset``)."""

_REF = re.compile(r"([A-Z]*-?)([0-9]+)")


def record_number(
    ref: str, prefixes: tuple[str, ...], what: str = "record"
) -> tuple[str, int] | None:
    """``(prefix, id)`` of ``ref`` (``e12`` is ``("E", 12)``); None if it is not of that shape.

    A number beyond :data:`MAX_RECORD_ID` is refused as no such ``what`` (NotFound).
    """
    text = ref.strip().upper()
    match = _REF.fullmatch(text)
    if match is None or match[1] not in prefixes:
        return None
    number = int(match[2])
    if number > MAX_RECORD_ID:
        raise NotFound(f"no {what} {text[:30]}{'…' if len(text) > 30 else ''}")
    return match[1], number


def count_option(value: int | None, field: str) -> int | None:
    """A count typed for ``field`` (``--limit``, ``--offset``): 0 or more, within an integer."""
    if value is None:
        return None
    if not 0 <= value <= MAX_COUNT:
        raise InvalidInput(field, f"expected a whole number from 0 to {MAX_COUNT}, got {value}")
    return value
