"""The hashes of audited rows' canonical content, streamed: no ORM object, no result row.

A full ``audit verify`` hashes every audited record to compare it with the last entry that
vouches for it. Each row's content must come out byte for byte as ``row_hash`` makes it
from the ORM object when the row is written (:mod:`cellbatch.db.audit_chain`). On SQLite
the rows are read with the driver's own cursor and each column's stored value is turned
into its canonical value by SQLAlchemy's own result conversion for the column's type (the
one a Core select or the ORM applies) followed by ``canonical_value``; two shortcuts give
the same text for less work:

- a column without conversion (integers, floats, text) is the driver's value, a float in
  ``repr`` form (``canonical_value`` of a driver value);
- a time stored in SQLAlchemy's own format (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC) becomes
  its ISO 8601 text by putting the ``T`` in: exactly ``canonical_value`` of the parsed time,
  and a stored text in any other form (an edited one, a migration's) goes the long way.

On PostgreSQL the rows are Core rows streamed from a server-side cursor, each value through
``canonical_value``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import DateTime, String, Table, select, text
from sqlalchemy.engine import Connection, Dialect

from cellbatch.db.audit_chain import canonical_value, encode_content
from cellbatch.domain.errors import CellbatchError

CHUNK = 5000
"""Rows fetched per round trip."""

Convert = Callable[[Any], Any]


class RecordTampered(CellbatchError):
    """A record no longer matches the audit entry that last vouched for it: nothing is written.

    Exit 1, as ``audit verify`` exits on a broken trail.
    """

    exit_code = 1

    def __init__(self, message: str, problem: str) -> None:  # noqa: D107
        super().__init__(message)
        self.problem = problem
        """What ``audit verify`` says of the record (without the advice)."""


def row_hashes(
    connection: Connection, table: Table, row_id: Any = None
) -> Iterator[tuple[Any, str]]:
    """Each row's ``id`` and the hash of its canonical content (what ``row_hash`` gives).

    ``row_id`` limits it to that one row (the unit of work's check before it writes).
    """
    names = sorted(column.name for column in table.columns)
    columns = [table.c[name] for name in names]
    position = names.index("id")
    sha256 = hashlib.sha256
    encode = encode_content
    query = select(*columns)
    if row_id is not None:
        query = query.where(table.c.id == row_id)
    if connection.dialect.name != "sqlite":
        options = {} if row_id is not None else {"stream_results": True, "yield_per": CHUNK}
        result = connection.execution_options(**options).execute(query)
        for part in result.partitions():
            for row in part:
                content = dict(zip(names, map(canonical_value, row), strict=True))
                yield row[position], sha256(encode(content).encode()).hexdigest()
        return
    dialect = connection.dialect
    converters = [
        (index, convert)
        for index, column in enumerate(columns)
        if (convert := _stored_to_canonical(column.type, dialect)) is not None
    ]
    compiled = query.compile(dialect=dialect)
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.execute(str(compiled), tuple(compiled.params[k] for k in compiled.positiontup or ()))
        while chunk := cursor.fetchmany(CHUNK):
            for row in chunk:
                values = list(row)
                for index, convert in converters:
                    values[index] = convert(values[index])
                content = dict(zip(names, values, strict=True))
                yield row[position], sha256(encode(content).encode()).hexdigest()
    finally:
        cursor.close()


def last_vouched(connection: Connection, entity: str, entity_id: str) -> tuple[int, str] | None:
    """The newest audit entry that vouches for a record: its number and the row hash it holds.

    One look-up through the index on ``audit_entry.entity_id``.
    """
    found = connection.execute(
        text(
            "SELECT seq, row_hash FROM audit_entry WHERE entity_id = :entity_id "
            "AND entity = :entity AND row_hash IS NOT NULL ORDER BY seq DESC LIMIT 1"
        ),
        {"entity": entity, "entity_id": entity_id},
    ).first()
    return None if found is None else (found.seq, found.row_hash)


def row_problem(
    name: str, row_id: Any, last: tuple[int, str] | None, content_hash: str
) -> str | None:
    """What ``audit verify`` says of a record whose content hashes to ``content_hash``.

    ``last`` is the newest entry that vouches for it. None: the record is as the program left
    it. The one comparison of a record with its trail, made by the full verify and by every
    unit of work before it vouches for a record again.
    """
    if last is None:
        return f"{name} {row_id} has no audit entry: inserted outside the program"
    if last[1] != content_hash:
        return (
            f"{name} {row_id} was edited outside the program "
            f"(it no longer matches audit entry #{last[0]})"
        )
    return None


def stored_row_problem(connection: Connection, table: Table, row_id: Any) -> str | None:
    """:func:`row_problem` of one record as it is stored now (None: no such row, or intact)."""
    stored = next(row_hashes(connection, table, row_id), None)
    if stored is None:
        return None
    last = last_vouched(connection, table.name, str(row_id))
    return row_problem(table.name, row_id, last, stored[1])


def refuse_tampered(problem: str) -> RecordTampered:
    """The refusal of a write (or a log-in) over a record edited outside the program."""
    return RecordTampered(
        f"{problem}: nothing was written. `cellbatch audit verify` names it; tell QA, who "
        "records a deviation and restores the record (or the last verified backup)",
        problem,
    )


def _stored_to_canonical(column_type: Any, dialect: Dialect) -> Convert | None:
    """How an SQLite column's stored value becomes its canonical value (None: as it is)."""
    process = column_type._cached_result_processor(dialect, None)
    affinity = column_type._type_affinity
    if process is None:
        if affinity is not None and issubclass(affinity, String):
            return None  # text affinity: SQLite stores text (or NULL, or a blob) only
        return _driver_value
    if affinity is not None and issubclass(affinity, DateTime):
        return _time_converter(process)
    return lambda value: canonical_value(process(value))


def _driver_value(value: Any) -> Any:
    """``canonical_value`` of a value as the driver gives it (int, float, str, bytes, None)."""
    return repr(value) if type(value) is float else value


def _time_converter(process: Convert) -> Convert:
    def convert(value: Any) -> Any:
        if type(value) is str and len(value) == 26 and value[10] == " ":
            return value[:10] + "T" + value[11:]
        return canonical_value(process(value))

    return convert
