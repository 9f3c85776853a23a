"""Values as the database holds them: read as the program wrote them, or refused.

The program writes each JSON column from Python values and each yes/no column as 0 or 1, so
a document that is not JSON, one nested deeper than Python parses, or a yes/no column holding
text was written by someone else. Read by SQLAlchemy's defaults, such a document stopped
every screen and command that showed its record with an "unexpected" error
(``JSONDecodeError``, ``RecursionError``), and SQLAlchemy read the text ``'false'`` in a yes/no
column as true (SQLite itself, and any report in SQL, as false). Each engine now reads
documents through :func:`read_document` and, on SQLite, yes/no values through
:class:`StrictBoolean`: such a value is refused the way an edited record is refused
(:class:`~cellbatch.db.failures.UnreadableStoredValue`), on every door, and ``audit verify``
names its record.
"""

from __future__ import annotations

import json
import math
from typing import Any

from sqlalchemy import Boolean

from cellbatch.db.failures import UNREADABLE, UnreadableStoredValue


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object's members, refused if a key appears twice.

    The program never writes one; Python keeps the last value of a repeated key and SQLite's
    ``json_extract`` the first, so a report in SQL and the program would read two values.
    """
    document = dict(pairs)
    if len(document) != len(pairs):
        raise UnreadableStoredValue(UNREADABLE.format(what="a JSON object with a repeated key"))
    return document


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999: JSON has no infinity, the program writes none
        raise UnreadableStoredValue(UNREADABLE.format(what="a JSON number too large"))
    return value


def _no_constant(text: str) -> Any:
    raise UnreadableStoredValue(UNREADABLE.format(what=f"{text} in a JSON document"))


def read_document(text: str | bytes) -> Any:
    """The document ``text`` holds (``json.loads``), or :class:`UnreadableStoredValue`."""
    try:
        return json.loads(
            text, object_pairs_hook=unique_keys, parse_float=_finite, parse_constant=_no_constant
        )
    except RecursionError:
        raise UnreadableStoredValue(
            UNREADABLE.format(what="a JSON document nested too deep")
        ) from None
    except UnreadableStoredValue:
        raise
    except ValueError:  # not JSON, or bytes that are not UTF-8
        raise UnreadableStoredValue(
            UNREADABLE.format(what="a JSON document that is not JSON")
        ) from None


class StrictBoolean(Boolean):
    """SQLite's yes/no column read as the program writes it: 0 (no) or 1 (yes).

    Anything else (text, a real, bytes, another integer) is :class:`UnreadableStoredValue`:
    the program reads a 2 as yes, where a report in SQL asking ``= 1`` does not find it.
    """

    def result_processor(self, dialect: Any, coltype: Any) -> Any:  # noqa: D102
        def process(value: Any) -> bool | None:
            if value is None:
                return None
            if type(value) is int and value in (0, 1):
                return value == 1
            what = f"a yes/no value stored as {type(value).__name__}"
            raise UnreadableStoredValue(UNREADABLE.format(what=what))

        return process


def strict_sqlite_types(dialect: Any) -> None:
    """Make ``dialect`` (one engine's SQLite dialect) read yes/no values with StrictBoolean."""
    dialect.colspecs = {**dialect.colspecs, Boolean: StrictBoolean}
