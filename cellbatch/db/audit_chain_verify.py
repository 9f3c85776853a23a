"""Proving the keyed audit chain, streamed: no ORM object and no dictionary per entry.

Entries are read in key order in chunks; per entry the work is one HMAC of its canonical
fields and three compares (sequence, link, time). Anything that does not hold (a gap, a
broken link, a seal that does not match, time going back) is checked again the long way
and described by :func:`_describe`, which only runs for a broken entry.

On SQLite the database itself writes each entry's canonical fields as the JSON text the
seal covers (``json_array``, in C: most of what a Python loop would spend per entry), and
Python keys the HMAC from a state prepared once. SQLite's text is a proof only where it
matches the seal: any entry whose seal it does not match is read again and sealed from
its stored columns the way the program sealed it (``entry_message``), so a quirk of
SQLite's JSON can cost time but never hide or invent a problem. It cannot make an edited
entry pass either: both texts are JSON, and the same JSON text is the same values (ints,
strings and nulls, the only values the program writes in an entry; SQLite writes a stored
real as a number with a point, a text the program never writes there). docs/trust-model.md
("How audit verify reads the trail") says so for the reader.

On PostgreSQL the entries come through a server-side cursor and each entry's JSON is
encoded in Python.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterator
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

CHUNK = 5000
"""Entries fetched per round trip."""

_COLUMNS = ", ".join((*ENTRY_FIELDS, "hash"))
_HASH = len(ENTRY_FIELDS)  # index of the entry's own hash in a stored row
_PREV = ENTRY_FIELDS.index("prev_hash")
_ENTITY = ENTRY_FIELDS.index("entity")
_ENTITY_ID = ENTRY_FIELDS.index("entity_id")
_ACTION = ENTRY_FIELDS.index("action")

# ``at`` as its seal covers it where the stored text has its first space at the 11th
# character (the ``YYYY-MM-DD HH:MM:SS.ffffff`` SQLAlchemy writes): canonical_time's
# ``str.replace(" ", "T", 1)``. Any other stored value becomes an empty JSON array, which no
# seal covers (the program writes a time as a string), so its entry is checked again the
# long way.
_SQLITE_AT = (
    "CASE WHEN typeof(at) = 'text' AND instr(at, ' ') = 11 "
    "THEN substr(at, 1, 10) || 'T' || substr(at, 12) "
    "ELSE json_array() END"
)
_SQLITE_WALK = (
    f"SELECT seq, json_array(seq, {_SQLITE_AT}, {', '.join(ENTRY_FIELDS[2:])}), prev_hash, "
    "hash, at FROM audit_entry WHERE seq > ? ORDER BY seq"
)
"""One entry as the walk reads it on SQLite: seq, the JSON its seal covers, prev_hash, hash
and its stored time."""


@dataclass
class ChainWalk:
    """What walking the chain found: counts and breaks."""

    entries: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS_HASH
    problems: list[str] = field(default_factory=list)


def canonical_time(value: Any) -> str:
    """An entry's time as its seal covers it (ISO 8601 UTC, microseconds).

    SQLite hands the stored text (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC); PostgreSQL an aware
    datetime.
    """
    if type(value) is str:
        return value.replace(" ", "T", 1)
    return canonical_value(value)


def sealer(secret: bytes) -> Callable[[str], str]:
    """``seal(fields_json)``: the hex HMAC-SHA256 under ``secret`` of ``MAC_PREFIX + fields_json``.

    The same digest as ``audit_chain.entry_mac`` (RFC 2104, as ``hmac.digest`` computes
    it), with the keyed inner and outer SHA-256 states and the prefix hashed once: per
    entry it costs the hashing of its own text only.
    """
    if len(secret) > 64:
        secret = hashlib.sha256(secret).digest()
    key = secret.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    inner.update(MAC_PREFIX.encode())
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def seal(fields_json: str) -> str:
        keyed = inner.copy()
        keyed.update(fields_json.encode())
        done = outer.copy()
        done.update(keyed.digest())
        return done.hexdigest()

    seal.inner, seal.outer = inner, outer  # type: ignore[attr-defined]
    return seal


def stream(connection: Connection, after: int) -> Iterator[list[tuple]]:
    """The entries after ``after`` in order, in chunks, each as the walk reads it.

    Each entry: ``(seq, fields_json, prev_hash, hash, at)``,
    ``fields_json`` the canonical fields its seal covers ("" for stored values no seal can
    cover, such as bytes) and ``at`` their time as SQLite stores it (see :func:`_as_stored`).
    """
    if connection.dialect.name == "sqlite":
        cursor = connection.connection.driver_connection.cursor()
        try:
            cursor.execute(_SQLITE_WALK, (int(after),))
            while chunk := cursor.fetchmany(CHUNK):
                yield chunk
                after = chunk[-1][0]
            return
        except sqlite3.OperationalError as exc:
            if "BLOB" not in str(exc):  # SQLite's JSON holds no bytes: a forged entry
                raise
        finally:
            cursor.close()
    for chunk in stored_entries(connection, after):
        yield [_as_read(row) for row in chunk]


def _as_read(row: tuple) -> tuple:
    """A stored entry as the walk reads it (see :func:`stream`)."""
    at = canonical_time(row[1])
    try:
        fields_json = encode_fields((row[0], at, *row[2:_HASH]))
    except (TypeError, ValueError):
        fields_json = ""
    at_text = at if type(at) is str else str(at)  # a forged entry may hold a number
    stored, in_stored_form = _as_stored(at_text)
    if not in_stored_form:  # walk() takes such a time only through _recheck
        fields_json = ""
    return row[0], fields_json, row[_PREV], row[_HASH], stored


def stored_entries(connection: Connection, after: int) -> Iterator[list[tuple]]:
    """The entries after ``after``, in order, in chunks of their stored columns (and hash)."""
    sql = f"SELECT {_COLUMNS} FROM audit_entry WHERE seq > {int(after)} ORDER BY seq"
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
) -> ChainWalk:
    """Prove every link after entry ``after`` (whose hash is ``after_hash``)."""
    found = ChainWalk(last_seq=after, last_hash=after_hash)
    seal = sealer(secret)
    inner, outer = seal.inner, seal.outer  # type: ignore[attr-defined]
    expected, prev = after + 1, after_hash
    prev_at, stored_time = _as_stored(after_time or "")
    count = 0
    for chunk in stream(connection, after):
        count += len(chunk)
        for seq, fields_json, prev_hash, sealed, at in chunk:
            # The seal, inlined (see sealer): the walk's one cost per entry worth keeping.
            keyed = inner.copy()
            try:
                keyed.update(fields_json.encode())
            except UnicodeEncodeError:  # text not UTF-8, read leniently: sealed as "", no seal
                pass
            done = outer.copy()
            done.update(keyed.digest())
            # ``at`` as stored sorts at or below its canonical form (a space made a T): an
            # entry that passes here passes canonical_time's comparison too.
            if done.hexdigest() != sealed or seq != expected or prev_hash != prev or at < prev_at:
                if stored_time:
                    prev_at, stored_time = canonical_time(prev_at), False
                expected, prev_at = _recheck(
                    connection, seal, seq, expected, prev, prev_at, found.problems
                )
                prev_at, stored_time = _as_stored(prev_at)
            else:
                prev_at, stored_time = at, True
            prev = sealed
            expected += 1
    found.entries = count
    found.last_seq = expected - 1
    found.last_hash = prev
    return found


def _as_stored(time: str) -> tuple[str, bool]:
    """A canonical time as SQLite stores it, where there is such a form; and whether it is.

    The walk compares each entry's stored time with the latest so far: in the stored form
    (a space for the ``T``) the order is the canonical order for every entry in that form.
    """
    if time[10:11] == "T" and " " not in time[:10]:
        return time[:10] + " " + time[11:], True
    return time, False


def _recheck(
    connection: Connection,
    seal: Callable[[str], str],
    seq: int,
    expected: int,
    prev: str,
    prev_at: str,
    problems: list[str],
) -> tuple[int, str]:
    """Check entry ``seq`` the long way, from its stored columns; returns (expected, prev_at).

    ``expected`` is the sequence number the walk continues from (the entry's own once it is
    reported), ``prev_at`` the latest time seen so far.
    """
    row = tuple(
        connection.exec_driver_sql(
            f"SELECT {_COLUMNS} FROM audit_entry WHERE seq = {int(seq)}"
        ).one()
    )
    at = canonical_time(row[1])
    at_text = at if type(at) is str else str(at)
    try:
        sealed = seal(encode_fields((seq, at, *row[2:_HASH])))
    except (TypeError, ValueError):
        sealed = "(no seal covers its stored values)"
    if seq != expected or row[_PREV] != prev or sealed != row[_HASH] or at_text < prev_at:
        problems.extend(_describe(row, at_text, sealed, expected, prev, prev_at))
        expected = seq
    if sealed != row[_HASH] or _instant(at_text) is None:
        return expected, prev_at  # a time no seal vouches for does not move the trail's clock
    return expected, max(prev_at, at_text)


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
    earlier, this = _instant(prev_at), _instant(at)
    if this is None:
        out.append(f"audit entry #{seq} holds no time: {label}")
    elif earlier is not None and this < earlier:
        gap = earlier - this
        out.append(
            f"audit entry #{seq} is timed {at.replace('T', ' ')} UTC, "
            f"{gap.total_seconds():.3f} s before the entry it follows: "
            "the trail's times must never go back (a clock set back, or a write "
            "that read the time before it held the write lock)"
        )
    return out


def _instant(text: str) -> datetime | None:
    """A stored time read as naive UTC (a forged row may carry an offset); None: no time."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value
