"""The hashes of audited rows' canonical content, streamed: no ORM object, no result row.

A full ``audit verify`` hashes every audited record to compare it with the last entry that
vouches for it. Each row's content must come out byte for byte as ``row_hash`` makes it
from the ORM object when the row is written (:mod:`cellbatch.db.audit_chain`): a JSON
object of every column, sorted by name.

On SQLite the database writes that object itself (``json_object``, in C) for the columns
whose stored values it can turn into their canonical JSON exactly: integers and text as
they are, a time in SQLAlchemy's own format (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC) with the
``T`` put in, a date as its text, a boolean stored as 0 or 1 as ``false`` or ``true``. The
other columns (floats, whose canonical form is Python's ``repr``; JSON documents, whose keys
are sorted) are read beside it and put in by Python, each value through SQLAlchemy's own
result conversion for its type and ``canonical_value``. A stored value in any other form
(an edited one, a migration's) becomes an empty JSON array in SQLite's text, which no
``row_hash`` covers: such a row's hash does not match, and the verify hashes it again the
long way (:func:`exact_row_hash`, through SQLAlchemy as the ORM reads it) before it calls
the row edited. So SQLite's shortcut can cost time on an odd row, never a wrong verdict: the
same JSON text is the same values, and each shortcut writes a value's JSON exactly as the
long way does (docs/trust-model.md, "How audit verify reads the trail").

On PostgreSQL the rows are Core rows streamed from a server-side cursor, each value through
``canonical_value``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    Integer,
    String,
    Table,
    Text,
    cast,
    select,
    text,
)
from sqlalchemy.engine import Connection, Dialect

from cellbatch.db.audit_chain import canonical_value, encode_content
from cellbatch.db.stored_documents import unique_keys
from cellbatch.db.stored_text import reads_leniently
from cellbatch.domain.errors import CellbatchError

CHUNK = 5000
"""Rows fetched per round trip."""

UNREADABLE = "(stored values the program cannot read)"
"""The hash of a row whose stored values cannot be read as the program reads them: it
matches no entry, so the row is reported as edited."""

Convert = Callable[[Any], Any]

UNREADABLE_VALUE = (TypeError, ValueError, OverflowError, RecursionError)
"""What reading a stored value as the program reads it raises when the value is none the
program wrote: a wrong type, text that is not UTF-8 (read leniently, it cannot be encoded
again), a number too large, a JSON document nested too deep to parse."""


class RecordTampered(CellbatchError):
    """A record no longer matches the audit entry that last vouched for it: nothing is written.

    Exit 1, as ``audit verify`` exits on a broken trail.
    """

    exit_code = 1

    def __init__(self, message: str, problem: str) -> None:  # noqa: D107
        super().__init__(message)
        self.problem = problem
        """What ``audit verify`` says of the record (without the advice)."""


def row_hashes(connection: Connection, table: Table) -> Iterator[tuple[Any, str]]:
    """Each row's ``id`` and the hash of its canonical content.

    The hash is ``row_hash`` of the row for every value the program writes; on SQLite a row
    holding a value in another form may get a hash that matches nothing, so a mismatch is
    confirmed with :func:`exact_row_hash` before it is reported.
    """
    if connection.dialect.name != "sqlite":
        return _core_row_hashes(connection, table)
    if len(table.columns) > MAX_COLUMNS:
        return _python_row_hashes(connection, table)
    return _sqlite_row_hashes(connection, table)


def latest_row_hashes(connection: Connection) -> dict[tuple[str, str], tuple[int, str]]:
    """The last entry that vouches for each record: (table, id) → (seq, row hash).

    Read from the trail's table itself, in key order (``NOT INDEXED`` on SQLite: an index
    SQLite's quick check does not compare with its table must not decide what is checked).
    """
    sqlite = connection.dialect.name == "sqlite"
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.execute(
            "SELECT entity, entity_id, seq, row_hash FROM audit_entry"
            f"{' NOT INDEXED' if sqlite else ''} WHERE row_hash IS NOT NULL ORDER BY seq"
        )
        latest: dict[tuple[str, str], tuple[int, str]] = {}
        while chunk := cursor.fetchmany(CHUNK):
            for entity, entity_id, seq, content_hash in chunk:
                latest[entity, entity_id] = (seq, content_hash)
        return latest
    finally:
        cursor.close()


def exact_row_hash(connection: Connection, table: Table, row_id: Any) -> str | None:
    """The hash of one row's content read as the ORM reads it (``row_hash``), the long way.

    ``UNREADABLE`` when SQLAlchemy cannot convert a stored value (an edited row), or a value
    is stored in a form SQLAlchemy would read as another (:func:`_misread`); None when there
    is no such row.
    """
    try:  # SQLAlchemy converts each value as it fetches the row
        if reads_leniently(connection) and _misread(connection, table, row_id):
            return UNREADABLE
        row = connection.execute(select(table).where(table.c.id == row_id)).first()
        if row is None:
            return None
        content = {c.name: canonical_value(v) for c, v in zip(table.columns, row, strict=True)}
        return _sha256(encode_content(content))
    except UNREADABLE_VALUE:
        return UNREADABLE


def _misread(connection: Connection, table: Table, row_id: Any) -> bool:
    """True when an SQLite row holds text that is not UTF-8 (read leniently).

    Asked only while the connection reads leniently: otherwise the driver refuses such text
    itself, so a write's or a log-in's proof pays no extra look-up. Read leniently, such text
    reaches SQLAlchemy's conversions with lone surrogates, and some would read it as a valid
    value: it must never pass as "the same value". (A yes/no column holding anything but 0
    or 1 is refused by its type, ``stored_documents.StrictBoolean``.)
    """
    quote = connection.dialect.identifier_preparer.quote
    sql = (
        f"SELECT {', '.join(quote(c.name) for c in table.columns)} FROM {quote(table.name)} "
        f"WHERE {quote('id')} = ?"
    )
    row = connection.exec_driver_sql(sql, (row_id,)).first()
    for value in row or ():
        if type(value) is str and not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError:
                return True
    return False


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _sorted_columns(table: Table) -> tuple[list[str], list[Any]]:
    names = sorted(column.name for column in table.columns)
    return names, [table.c[name] for name in names]


def _core_row_hashes(connection: Connection, table: Table) -> Iterator[tuple[Any, str]]:
    names, columns = _sorted_columns(table)
    position = names.index("id")
    sha256, encode = hashlib.sha256, encode_content
    # A JSON document is read as its text and parsed here, row by row: parsed by the driver
    # while it fetches, one nested too deep to parse would stop the whole table's read.
    documents = [index for index, column in enumerate(columns) if _is_json(column.type)]
    selected = [
        cast(column, Text).label(column.name) if index in documents else column
        for index, column in enumerate(columns)
    ]
    result = connection.execution_options(stream_results=True, yield_per=CHUNK).execute(
        select(*selected)
    )
    for part in result.partitions():
        for row in part:
            try:
                values = list(map(canonical_value, row))
                for index in documents:
                    values[index] = _json_canonical(row[index])
                content_hash = sha256(encode(dict(zip(names, values, strict=True))).encode())
                content_hash = content_hash.hexdigest()
            except UNREADABLE_VALUE:
                content_hash = UNREADABLE
            yield row[position], content_hash


def _is_json(column_type: Any) -> bool:
    kind = column_type._type_affinity
    return kind is not None and issubclass(kind, JSON)


# --------------------------------------------------------------------------- SQLite


def _sqlite_json(column: Any, quoted: str, dialect: Dialect) -> str | None:
    """SQL for a column's canonical JSON value where SQLite writes it exactly, else None.

    A stored value in a form the program never writes becomes ``[]`` (see the module).
    """
    kind = column.type._type_affinity
    if kind is None:
        return None
    if issubclass(kind, Boolean):
        return (
            f"CASE WHEN typeof({quoted}) = 'integer' THEN CASE {quoted} WHEN 1 THEN json('true') "
            f"WHEN 0 THEN json('false') ELSE json_array() END "
            f"WHEN {quoted} IS NULL THEN NULL ELSE json_array() END"
        )
    if issubclass(kind, DateTime):
        return (
            f"CASE WHEN typeof({quoted}) = 'text' AND length({quoted}) = 26 "
            f"AND substr({quoted}, 11, 1) = ' ' "
            f"THEN substr({quoted}, 1, 10) || 'T' || substr({quoted}, 12) "
            f"WHEN {quoted} IS NULL THEN NULL ELSE json_array() END"
        )
    if issubclass(kind, Date):
        # the stored text of a date is its ISO form; any other stored value is a number,
        # which the program never writes for a date (a string)
        return quoted
    if issubclass(kind, Float):
        return None  # canonical: Python's repr, as a string
    if issubclass(kind, Integer | String) and (
        column.type._cached_result_processor(dialect, None) is None
    ):
        return quoted  # the driver's value as it is: integer, text or null (a real: below)
    return None


MAX_COLUMNS = 60
"""Above this many columns a table is hashed in Python (SQLite's functions take at most
127 arguments)."""


def _sqlite_row_hashes(connection: Connection, table: Table) -> Iterator[tuple[Any, str]]:
    dialect = connection.dialect
    quote = dialect.identifier_preparer.quote
    names, columns = _sorted_columns(table)
    pairs, extra, patches = [], [], []
    for index, (name, column) in enumerate(zip(names, columns, strict=True)):
        key = json.dumps(name)
        sql = _sqlite_json(column, quote(name), dialect)
        if sql is None:
            sql = "json_array()"
            extra.append(quote(name))
            lead = "{" if index == 0 else ","
            patches.append(
                (f"{lead}{key}:[]", f"{lead}{key}:", _patch_converter(column.type, dialect))
            )
        pairs.append(f"'{name}', {sql}")
    # Last column first: a JSON document put in can hold an earlier column's marker, never
    # a later one's (the object's text before the marker is SQLite's own).
    patches.reverse()
    # An integer column holding a real: SQLite writes a number with a point, the program
    # a string (canonical_value of a float): it matches nothing and goes the long way.
    sql = (
        f"SELECT {quote('id')}, json_object({', '.join(pairs)})"
        f"{''.join(', ' + e for e in extra)} FROM {quote(table.name)} NOT INDEXED "
        f"ORDER BY {quote('id')}"
    )
    sha256, encode = hashlib.sha256, encode_content
    cursor = connection.connection.driver_connection.cursor()
    last = None
    try:
        cursor.execute(sql)
        while chunk := cursor.fetchmany(CHUNK):
            if not patches:
                for row_id, text in chunk:
                    try:
                        content_hash = sha256(text.encode()).hexdigest()
                    except UnicodeEncodeError:  # text not UTF-8, read leniently
                        content_hash = UNREADABLE
                    yield row_id, content_hash
            else:
                for row in chunk:
                    text = row[1]
                    for (marker, lead, convert), value in zip(patches, row[:1:-1], strict=True):
                        try:
                            done = encode(convert(value) if convert else value)
                        except UNREADABLE_VALUE:
                            done = json.dumps(UNREADABLE)  # matches nothing: the long way
                        text = text.replace(marker, lead + done, 1)
                    try:
                        content_hash = sha256(text.encode()).hexdigest()
                    except UnicodeEncodeError:  # text not UTF-8, read leniently
                        content_hash = UNREADABLE
                    yield row[0], content_hash
            last = chunk[-1][0]
    except sqlite3.OperationalError as exc:  # SQLite's JSON holds no bytes: an edited row
        if "BLOB" not in str(exc):
            raise
    else:
        return
    finally:
        cursor.close()
    yield from _python_row_hashes(connection, table, after=last)


def _patch_converter(column_type: Any, dialect: Dialect) -> Convert | None:
    """How Python puts in a column SQLite leaves to it (None: the value as it is).

    A JSON document is parsed with its floats as ``repr`` text at once: the canonical value
    ``canonical_value(json.loads(...))`` gives, but for a NaN or an infinity, which stays a
    bare number the canonical text never holds (such a row goes the long way).
    """
    if _is_json(column_type):
        return _json_canonical
    return _stored_to_canonical(column_type, dialect)


def _json_canonical(value: Any) -> Any:
    if value is None:
        return None
    try:
        document, end = _scan_json(value, 0)
    except StopIteration:
        raise ValueError("not a JSON document") from None
    if end != len(value):  # text around the document: SQLAlchemy never writes it
        raise ValueError("not only a JSON document")
    return document


def _float_text(text: str) -> str:
    return repr(float(text))


_scan_json = json.JSONDecoder(parse_float=_float_text, object_pairs_hook=unique_keys).scan_once


def _python_row_hashes(
    connection: Connection, table: Table, after: Any = None
) -> Iterator[tuple[Any, str]]:
    """Every row after ``after`` hashed in Python, each value converted as the ORM would."""
    names, columns = _sorted_columns(table)
    position = names.index("id")
    dialect = connection.dialect
    converters = [
        (index, convert)
        for index, column in enumerate(columns)
        if (convert := _stored_to_canonical(column.type, dialect)) is not None
    ]
    quote = dialect.identifier_preparer.quote
    where, params = ("", ()) if after is None else (f"WHERE {quote('id')} > ? ", (after,))
    sql = (
        f"SELECT {', '.join(quote(name) for name in names)} FROM {quote(table.name)} "
        f"NOT INDEXED {where}ORDER BY {quote('id')}"
    )
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(CHUNK):
            for row in chunk:
                values = list(row)
                try:
                    for index, convert in converters:
                        values[index] = convert(values[index])
                    content_hash = _sha256(encode_content(dict(zip(names, values, strict=True))))
                except UNREADABLE_VALUE:
                    content_hash = UNREADABLE
                yield row[position], content_hash
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
    """:func:`row_problem` of one record as it is stored now (None: no such row, or intact).

    The record is read as the ORM reads it (:func:`exact_row_hash`).
    """
    stored = exact_row_hash(connection, table, row_id)
    if stored is None:
        return None
    last = last_vouched(connection, table.name, str(row_id))
    return row_problem(table.name, row_id, last, stored)


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
