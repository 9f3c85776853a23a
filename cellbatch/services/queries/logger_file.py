"""A temperature logger's readings file, read into readings (docs/clinic.md, "Receipt").

The format is CSV, UTF-8: lines starting with ``#`` are comments; the first other line is the
header ``time,temperature [UNIT]`` (the unit any pint temperature unit: ``degC``, ``°C``,
``degF``, ``K``); each row is an ISO 8601 time with its offset (``2026-12-02T09:30:00Z``) and
a number in the header's unit, a plain decimal (:data:`cellbatch.units.PLAIN_DECIMAL`, the rule
of a typed temperature too). Anything else is refused naming the option, the line and the
column, and nothing is read.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from pathlib import Path

from cellbatch import units
from cellbatch.domain.errors import InvalidInput
from cellbatch.domain.transport import Reading, plausible

MAX_BYTES = 2_000_000
"""Largest readings file read (a logger reading every minute for a year is about 15 MB;
a transport of hours is a few kB)."""

_HEADER = re.compile(r"time\s*,\s*temperature\s*[\[(]\s*(?P<unit>[^\])]+?)\s*[\])]", re.I)


def _unit(text: str, field: str, line: int) -> str:
    match = _HEADER.fullmatch(text.strip())
    if match is None:
        raise InvalidInput(
            field,
            f"line {line}: expected the header 'time,temperature [UNIT]' (e.g. "
            f"'time,temperature [degC]'), got {text.strip()[:60]!r}",
        )
    unit = match["unit"]
    try:
        units.to_canonical(0.0, unit, "temperature")
    except ValueError:
        raise InvalidInput(
            field, f"line {line}: the header's unit {unit[:20]!r} is not a temperature unit "
            "(expected e.g. degC, °C, degF or K)",
        ) from None  # fmt: skip
    return unit


def _reading(text: str, unit: str, field: str, line: int) -> Reading:
    parts = text.split(",")
    if len(parts) != 2:
        raise InvalidInput(
            field, f"line {line}: expected 'time,temperature', got {text.strip()[:60]!r}"
        )
    time_text, number = parts[0].strip(), parts[1].strip()
    try:
        at = datetime.fromisoformat(time_text.replace("Z", "+00:00"))
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise InvalidInput(
            field, f"line {line}, column {_column(parts[0], 1)}: expected an ISO 8601 time "
            f"with its offset (e.g. 2026-12-02T09:30:00Z), got {time_text[:40]!r}",
        )  # fmt: skip
    value = units.plain_decimal(number)
    if value is None:
        column = _column(parts[1], len(parts[0]) + 2)
        raise InvalidInput(
            field, f"line {line}, column {column}: expected a number in {unit} written as "
            f"{units.PLAIN_DECIMAL_WORDS}, got {number[:40]!r}",
        )  # fmt: skip
    if not math.isfinite(value):
        column = _column(parts[1], len(parts[0]) + 2)
        raise InvalidInput(
            field, f"line {line}, column {column}: the number ({len(number)} characters) is "
            f"too large for a temperature; expected {units.PLAIN_DECIMAL_WORDS}",
        )  # fmt: skip
    try:
        celsius = units.to_canonical(value, unit, "temperature")
    except ValueError as exc:
        raise InvalidInput(field, f"line {line}: {exc}") from None
    plausible(celsius, field, where=f"line {line}: ")
    return Reading(at.astimezone(UTC), celsius, line)


def _column(cell: str, start: int) -> int:
    """The column (from 1) where ``cell``'s text begins, ``cell`` beginning at ``start``.

    Spaces and tabs beside the comma are the CSV's layout, not the value: a value is its
    cell without them.
    """
    return start + len(cell) - len(cell.lstrip())


def read_logger_file(path: Path, field: str = "--logger-file") -> list[Reading]:
    """Every reading of the file at ``path``, in time order; refused naming ``field``."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise InvalidInput(field, f"{path} is larger than {MAX_BYTES // 1_000_000} MB")
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise InvalidInput(field, f"no file {path}") from None
    except IsADirectoryError:
        raise InvalidInput(field, f"{path} is a folder, not a readings file") from None
    except UnicodeDecodeError:
        raise InvalidInput(field, f"{path} is not a UTF-8 text file") from None
    except OSError as exc:
        raise InvalidInput(field, f"{path} cannot be read: {exc.strerror}") from None
    unit = None
    readings: list[Reading] = []
    # lines end at a line feed only (CR LF too): splitlines() would also break at U+2028,
    # NEL and the separators U+001C-U+001E, giving line numbers no editor shows
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if unit is None:
            unit = _unit(line, field, number)
            continue
        reading = _reading(line, unit, field, number)
        if readings and reading.at < readings[-1].at:
            raise InvalidInput(field, f"line {number}: the readings are not in time order")
        readings.append(reading)
    if not readings:
        raise InvalidInput(
            field, f"{path} holds no readings: expected the header 'time,temperature [degC]' "
            "and one line per reading",
        )  # fmt: skip
    return readings
