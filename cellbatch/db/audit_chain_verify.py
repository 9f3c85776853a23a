"""Proving the keyed audit chain, streamed: no ORM object and no dictionary per entry.

Entries are read in key order in chunks (a server-side cursor on PostgreSQL), each as a
plain tuple; per entry the work is one JSON encoding of its fields and one HMAC. Anything
that does not hold (a gap, a broken link, a seal that does not match, time going back) is
described by :func:`_describe`, which only runs for a broken entry.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection

from cellbatch.db.audit_chain import (
    ENTRY_FIELDS,
    GENESIS_HASH,
    MAC_PREFIX,
    canonical_value,
    encode_fields,
)

try:  # OpenSSL's one-shot HMAC, the function hmac.digest wraps (one call less per entry)
    from _hashlib import hmac_digest as _hmac_digest
except ImportError:  # pragma: no cover - a Python built without OpenSSL
    _hmac_digest = None

CHUNK = 5000
"""Entries fetched per round trip."""

_COLUMNS = ", ".join((*ENTRY_FIELDS, "hash"))
_HASH = len(ENTRY_FIELDS)  # index of the entry's own hash in a fetched row
_PREV = ENTRY_FIELDS.index("prev_hash")
_ROW_HASH = ENTRY_FIELDS.index("row_hash")
_ENTITY = ENTRY_FIELDS.index("entity")
_ENTITY_ID = ENTRY_FIELDS.index("entity_id")
_ACTION = ENTRY_FIELDS.index("action")


@dataclass
class ChainWalk:
    """What walking the chain found: counts, breaks, and each record's latest entry."""

    entries: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS_HASH
    problems: list[str] = field(default_factory=list)
    latest: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)
    """(table, id) → (seq, row hash) of the last entry that vouches for that record."""


def canonical_time(value: Any) -> str:
    """An entry's time as its seal covers it (ISO 8601 UTC, microseconds).

    SQLite hands the stored text (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC); PostgreSQL an aware
    datetime.
    """
    if type(value) is str:
        return value.replace(" ", "T", 1)
    return canonical_value(value)


def stream(connection: Connection, after: int) -> Iterator[list[tuple]]:
    """The entries after sequence number ``after``, in order, in chunks of plain tuples."""
    sql = f"SELECT {_COLUMNS} FROM audit_entry WHERE seq > {int(after)} ORDER BY seq"
    if connection.dialect.name == "sqlite":
        cursor = connection.connection.driver_connection.cursor()
        try:
            cursor.execute(sql)
            while chunk := cursor.fetchmany(CHUNK):
                yield chunk
        finally:
            cursor.close()
        return
    result = connection.execution_options(stream_results=True, yield_per=CHUNK).exec_driver_sql(sql)
    for part in result.partitions():
        yield [tuple(row) for row in part]


def walk(
    connection: Connection,
    secret: bytes,
    *,
    after: int = 0,
    after_hash: str = GENESIS_HASH,
    after_time: str | None = None,
    keep_latest: bool = True,
) -> ChainWalk:
    """Prove every link after entry ``after`` (whose hash is ``after_hash``).

    ``keep_latest`` collects each record's latest entry (for checking the records).
    """
    found = ChainWalk(last_seq=after, last_hash=after_hash)
    encode = encode_fields
    digest = _hmac_digest or hmac.digest
    prefix = MAC_PREFIX
    latest = found.latest
    expected, prev, prev_at = after + 1, after_hash, after_time or ""
    count = 0
    for chunk in stream(connection, after):
        for row in chunk:
            seq = row[0]
            at = row[1]
            at = at.replace(" ", "T", 1) if type(at) is str else canonical_value(at)
            fields = (seq, at, *row[2:_HASH])  # a tuple: encoded as the list it stands for
            sealed = digest(secret, (prefix + encode(fields)).encode(), "sha256").hex()
            if seq != expected or row[_PREV] != prev or sealed != row[_HASH] or at < prev_at:
                found.problems.extend(_describe(row, at, sealed, expected, prev, prev_at))
                expected = seq
            if keep_latest and row[_ROW_HASH] is not None:
                latest[(row[_ENTITY], row[_ENTITY_ID])] = (seq, row[_ROW_HASH])
            prev = row[_HASH]
            if at > prev_at:
                prev_at = at
            expected += 1
            count += 1
    found.entries = count
    found.last_seq = expected - 1
    found.last_hash = prev
    return found


def entry_label(row: tuple, at: str) -> str:
    """``#seq (time UTC, table id, action)``: how a report names one entry."""
    when = at.replace("T", " ")[:19]
    return f"#{row[0]} ({when} UTC, {row[_ENTITY]} {row[_ENTITY_ID]}, {row[_ACTION]})"


def _describe(
    row: tuple, at: str, sealed: str, expected: int, prev: str, prev_at: str
) -> list[str]:
    seq, out = row[0], []
    label = entry_label(row, at)
    if seq > expected:
        out.append(
            f"audit entry #{expected} is missing (removed from the database); "
            f"the chain jumps to {label}"
        )
    elif seq < expected:
        out.append(f"audit entry #{seq} appears out of order")
    if row[_PREV] != prev:
        out.append(
            f"audit entry #{seq} does not follow the entry before it "
            f"(an entry was inserted, removed or edited): {label}"
        )
    if sealed != row[_HASH]:
        out.append(
            f"audit entry #{seq} was edited outside the program or forged (its seal does not "
            f"match under the site key): {label}"
        )
    if prev_at and at < prev_at:
        gap = _instant(prev_at) - _instant(at)
        out.append(
            f"audit entry #{seq} is timed {at.replace('T', ' ')} UTC, "
            f"{gap.total_seconds():.3f} s before the entry it follows: "
            "the trail's times must never go back (a clock set back, or a write "
            "that read the time before it held the write lock)"
        )
    return out


def _instant(text: str) -> datetime:
    """A stored time read as naive UTC (a forged row may carry an offset or odd digits)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return datetime.min
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value
