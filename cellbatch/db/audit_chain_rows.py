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

from sqlalchemy import DateTime, String, Table, select
from sqlalchemy.engine import Connection, Dialect

from cellbatch.db.audit_chain import canonical_value, encode_content

CHUNK = 5000
"""Rows fetched per round trip."""

Convert = Callable[[Any], Any]


def row_hashes(connection: Connection, table: Table) -> Iterator[tuple[Any, str]]:
    """Each row's ``id`` and the hash of its canonical content (what ``row_hash`` gives)."""
    names = sorted(column.name for column in table.columns)
    columns = [table.c[name] for name in names]
    position = names.index("id")
    sha256 = hashlib.sha256
    encode = encode_content
    if connection.dialect.name != "sqlite":
        result = connection.execution_options(stream_results=True, yield_per=CHUNK).execute(
            select(*columns)
        )
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
    sql = str(select(*columns).compile(dialect=dialect))
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.execute(sql)
        while chunk := cursor.fetchmany(CHUNK):
            for row in chunk:
                values = list(row)
                for index, convert in converters:
                    values[index] = convert(values[index])
                content = dict(zip(names, values, strict=True))
                yield row[position], sha256(encode(content).encode()).hexdigest()
    finally:
        cursor.close()


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
