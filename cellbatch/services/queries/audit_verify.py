"""Proving the audit trail: the keyed chain, its anchors, and every audited record.

``verify_trail`` proves the trail intact under the site key, or names the first place
where an entry was edited, forged, inserted or removed, a record changed behind the
program's back, or the trail's tail cut after an anchor. The full verify walks every
entry and every record; the incremental one starts at the last anchor a verify proved
(``verified`` in the anchor log) and costs in proportion to the entries since, plus one
look-up per anchor (docs/trust-model.md says what each proves).

Everything is read in one snapshot, after the anchor log: an anchor always names an
entry that was committed before the snapshot began.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from cellbatch.db.audit_chain import GENESIS_HASH
from cellbatch.db.audit_chain_anchors import Anchor, anchor_of, read_anchors
from cellbatch.db.audit_chain_rows import (
    exact_row_hash,
    latest_row_hashes,
    row_hashes,
    row_problem,
)
from cellbatch.db.audit_chain_verify import canonical_time, walk
from cellbatch.db.database import Database
from cellbatch.db.engine import sqlite_file
from cellbatch.db.failures import DAMAGED, DatabaseDamaged, database_problem
from cellbatch.db.stored_text import lenient_text, undecodable
from cellbatch.db.tables import AUDITED_TABLES
from cellbatch.services.audit_anchor import ANCHOR_ENTITY

ANCHORS_SHOWN = 3
"""Broken anchors named one by one; the rest are counted."""


@dataclass
class VerifyReport:
    """Outcome of checking the chain, its anchors and (full verify) every audited row."""

    entries_checked: int = 0
    rows_checked: int = 0
    problems: list[str] = field(default_factory=list)
    incremental: bool = False
    start_seq: int = 0
    """The entry the walk started after (0: from the beginning)."""
    anchors_checked: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    chain_id: str = ""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    """What the reader should know that is not a problem (e.g. no verified anchor yet)."""

    @property
    def ok(self) -> bool:
        """True when nothing was found wrong."""
        return not self.problems

    @property
    def entries_per_second(self) -> float:
        """Entries proved per second of the whole check."""
        return self.entries_checked / self.seconds if self.seconds > 0 else 0.0


def verify_trail(db: Database, *, incremental: bool = False) -> VerifyReport:
    """Prove the trail (everything, or since the last verified anchor with ``incremental``).

    SiteKeyProblem (raised) when the key is missing, unsafe or not this database's: the
    trail cannot be judged then. A damaged database file is reported as a problem.
    """
    report = VerifyReport(incremental=incremental)
    key = db.site_key()
    log = read_anchors(db.anchor_log)  # before the snapshot (see the module's description)
    started = time.perf_counter()
    check = None
    try:
        with db.snapshot() as snapshot:
            connection = snapshot.connection  # type: ignore[attr-defined]
            if not incremental and db.backend == "sqlite":
                check = QuickCheck.beside(db.engine, connection)
            if check is None or not check.done_damaged():
                try:
                    _prove(connection, key.secret, key.fingerprint, log, db.anchor_log, report)
                except (DBAPIError, sqlite3.Error) as exc:
                    if not undecodable(exc):
                        raise
                    # Text that is not UTF-8 was met: all again, reading it so it can be named.
                    report = VerifyReport(incremental=incremental)
                    with lenient_text(connection):
                        _prove(connection, key.secret, key.fingerprint, log, db.anchor_log, report)
            damage = check.result(connection) if check is not None else None
    except (DBAPIError, sqlite3.Error) as exc:  # the stream reads SQLite's cursor directly
        problem = database_problem(exc)
        if not isinstance(problem, DatabaseDamaged):
            raise problem from exc
        report.problems.append(f"{problem} (checked {report.entries_checked} entries before)")
        damage = check.result() if check is not None else None
    if damage is not None:  # what was found in a damaged file says nothing more
        report.problems = [damage]
    report.seconds = time.perf_counter() - started
    return report


class QuickCheck:
    """SQLite's quick check of the database file, beside the walk.

    The walk reads every entry and record through their tables, never through an index: a
    damaged index (wrong answers to the look-ups that keep codes and positions unique) or
    a damaged free page would pass it unseen. For a database file the check runs in a
    thread on a connection of its own while the walk runs (SQLite works without Python's
    lock, so on a machine with a second core it costs no time); a damaged file's report is
    the damage alone.
    """

    def __init__(self) -> None:
        self._found: list[str] | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def beside(cls, engine: Engine, connection: Connection) -> QuickCheck:
        """The check started in its thread, or run now on ``connection`` (in memory)."""
        check = cls()
        if sqlite_file(engine.url.render_as_string(hide_password=False)) is None:
            check._found = [row[0] for row in connection.execute(text("PRAGMA quick_check"))]
            return check
        check._thread = threading.Thread(
            target=check._run, args=(engine,), name="quick-check", daemon=True
        )
        check._thread.start()
        return check

    def _run(self, engine: Engine) -> None:
        try:
            raw = engine.raw_connection()  # opened as the engine opens its connections
            try:
                cursor = raw.cursor()
                cursor.execute("PRAGMA quick_check")
                self._found = [row[0] for row in cursor.fetchall()]
                cursor.close()
            finally:
                raw.close()
        except Exception as exc:  # reported by result(), in the caller's thread
            self._error = exc

    def done_damaged(self) -> bool:
        """True when the check has finished and found damage (nothing else to read then)."""
        return self._found is not None and self._found != ["ok"]

    def result(self, connection: Connection | None = None) -> str | None:
        """What the check found wrong with the file, or None when it is sound.

        When the check's own connection failed, it runs again on ``connection`` (the
        verify's, still in its snapshot) if given: a connection opened later can meet what
        the verify's own did not (companion files removed under a live database).
        """
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None and connection is not None:
            self._error = None
            self._found = [row[0] for row in connection.execute(text("PRAGMA quick_check"))]
        if self._error is not None:
            if not isinstance(self._error, DBAPIError | sqlite3.Error):
                raise self._error
            problem = database_problem(self._error)
            if not isinstance(problem, DatabaseDamaged):
                raise problem from self._error
            return str(problem)
        found = self._found or ["ok"]
        if found == ["ok"]:
            return None
        what = f"SQLite: its quick check found {len(found)} problem(s), the first: {found[0][:120]}"
        return DAMAGED.format(what=what)


def _prove(
    connection: Connection, secret: bytes, fingerprint: str, log, path: Path, report
) -> None:
    _verify(connection, secret, fingerprint, log, report)
    _check_recorded(connection, path, report)


def _verify(connection: Connection, secret: bytes, fingerprint: str, log, report) -> None:
    seal = connection.execute(
        text("SELECT chain_id, key_fingerprint FROM audit_seal WHERE id = 1")
    ).one()
    report.chain_id = seal.chain_id
    for number in log.malformed:
        report.problems.append(
            f"anchor log line {number} is not an anchor: the log was edited (it is append-only)"
        )
    for anchor in log.anchors:
        if anchor.key_fingerprint != fingerprint:
            report.problems.append(
                f"anchor log line {anchor.line} was written under site key "
                f"{anchor.key_fingerprint[:16]}, not under this key ({fingerprint[:16]}): "
                "the key in use is not the key the trail was anchored with"
            )
            break
    anchors = [a for a in log.anchors if a.chain_id == seal.chain_id]
    after, after_hash, after_time = 0, GENESIS_HASH, None
    if report.incremental:
        after, after_hash, after_time = _start(connection, anchors, fingerprint, report)
    chain = walk(connection, secret, after=after, after_hash=after_hash, after_time=after_time)
    report.start_seq = after
    report.entries_checked = chain.entries
    report.problems.extend(chain.problems)
    report.head_seq, report.head_hash = chain.last_seq, chain.last_hash
    head = connection.execute(text("SELECT seq, hash FROM audit_head WHERE id = 1")).first()
    if head is None or head.seq != chain.last_seq or head.hash != chain.last_hash:
        report.problems.append(
            "the end of the audit trail does not match its recorded head "
            f"(head says #{head.seq if head else '?'}, trail ends at #{chain.last_seq}): "
            "entries were removed or added at the end"
        )
    _check_anchors(connection, anchors, chain.last_seq, report)
    if not report.incremental:
        _check_rows(connection, report)
    else:  # the seal names the chain the anchors are picked by: it must be the sealed one
        _check_seal_row(connection, report)


def _start(
    connection: Connection, anchors: list[Anchor], fingerprint: str, report: VerifyReport
) -> tuple[int, str, str | None]:
    """Where an incremental walk starts: the newest verified anchor that still holds."""
    verified = [a for a in anchors if a.kind == "verified" and a.key_fingerprint == fingerprint]
    if not verified:
        report.notes.append("no verified anchor yet: the whole trail was walked")
        return 0, GENESIS_HASH, None
    anchor = max(verified, key=lambda a: a.seq)
    row = connection.execute(
        text("SELECT hash, at FROM audit_entry WHERE seq = :seq"), {"seq": anchor.seq}
    ).first()
    at = canonical_time(row.at) if row is not None else None
    if row is None or row.hash != anchor.hash or type(at) is not str:
        report.notes.append("the last verified anchor no longer holds: the whole trail was walked")
        return 0, GENESIS_HASH, None
    return anchor.seq, anchor.hash, at


def _check_anchors(
    connection: Connection, anchors: list[Anchor], last_seq: int, report: VerifyReport
) -> None:
    """Every anchored entry must still exist with the hash the anchor wrote down."""
    report.anchors_checked = len(anchors)
    wanted = sorted({a.seq for a in anchors})
    found: dict[int, str] = {}
    for start in range(0, len(wanted), 500):
        part = wanted[start : start + 500]
        rows = connection.execute(
            text(f"SELECT seq, hash FROM audit_entry WHERE seq IN ({','.join(map(str, part))})")
        )
        found.update((row.seq, row.hash) for row in rows)
    broken = []
    for anchor in sorted(anchors, key=lambda a: (a.seq, a.line)):
        stored = found.get(anchor.seq)
        if stored == anchor.hash:
            continue
        where = (
            f"the anchor of {anchor.at:%Y-%m-%d %H:%M:%S} UTC "
            f"({anchor.kind}, anchor log line {anchor.line})"
        )
        if stored is None:
            broken.append(
                f"the audit trail was cut: {where} names audit entry #{anchor.seq} "
                f"({anchor.hash[:16]}), but the trail now ends at #{last_seq}; the entries "
                "after it were removed and the head set back"
            )
        else:
            broken.append(
                f"the audit trail was rewritten: {where} names audit entry #{anchor.seq} with "
                f"hash {anchor.hash[:16]}, the database holds {stored[:16]}"
            )
    report.problems.extend(broken[:ANCHORS_SHOWN])
    if len(broken) > ANCHORS_SHOWN:
        report.problems.append(f"… and {len(broken) - ANCHORS_SHOWN} more anchors do not hold")


def _check_seal_row(connection: Connection, report: VerifyReport) -> None:
    """The ``audit_seal`` row must match the last entry that vouches for it."""
    table = AUDITED_TABLES["audit_seal"].__table__  # type: ignore[attr-defined]
    stored = exact_row_hash(connection, table, 1)
    last = connection.execute(
        text(
            "SELECT seq, row_hash FROM audit_entry WHERE entity = 'audit_seal' "
            "AND entity_id = '1' AND row_hash IS NOT NULL ORDER BY seq DESC LIMIT 1"
        )
    ).first()
    if last is None or last.row_hash != stored:
        report.problems.append(
            "audit_seal 1 was edited outside the program "
            f"(it no longer matches audit entry #{last.seq if last else '?'})"
        )


def _check_recorded(connection: Connection, path: Path, report: VerifyReport) -> None:
    """Every anchor the trail records as written must be in the anchor log in use.

    The log is read again here, inside the snapshot: every recorded anchor the snapshot
    sees had its line flushed to the log before its entry was committed.
    """
    recorded = connection.execute(
        text(
            "SELECT seq, new_value FROM audit_entry WHERE entity = :entity "
            "AND action = 'anchor' ORDER BY seq"
        ),
        {"entity": ANCHOR_ENTITY},
    ).all()
    if not recorded:
        return
    lines = {a.text() for a in read_anchors(path).anchors if a.chain_id == report.chain_id}
    # An entry whose text is no anchor's was edited: the walk names it by its seal.
    missing = [
        (row.seq, anchor)
        for row in recorded
        if row.new_value not in lines and (anchor := anchor_of(row.new_value)) is not None
    ]
    if not missing:
        return
    held = sum(1 for row in recorded if row.new_value in lines)
    seq, first = missing[0]
    report.problems.append(
        f"the anchor log {path} has {held} anchors of this trail; the trail says "
        f"{len(recorded)} were written: "
        f"the log is missing or replaced (first missing: {first.kind} "
        f"anchor of entry #{first.seq}, recorded in audit entry "
        f"#{seq}); verify with the site's own anchor log (CELLBATCH_ANCHOR_LOG)"
    )


def _check_rows(connection: Connection, report: VerifyReport) -> None:
    """Every audited record must match the last entry that vouches for it, and vice versa.

    In the verify's one snapshot: the walk proved the entries, and each record's latest
    entry is read from them once more (only those with a row hash), table by table after.
    """
    latest = latest_row_hashes(connection)
    pop = latest.pop
    for name, model in AUDITED_TABLES.items():
        table = model.__table__  # type: ignore[attr-defined]
        checked = 0
        unmatched = []  # in key order; judged once the table's rows are read (see row_hashes)
        for row_id, content_hash in row_hashes(connection, table):
            checked += 1
            last = pop((name, str(row_id)), None)
            if last is None or last[1] != content_hash:
                unmatched.append((row_id, last, content_hash))
        for row_id, last, content_hash in unmatched:
            if last is not None:  # the long way decides
                content_hash = exact_row_hash(connection, table, row_id) or content_hash
            problem = row_problem(name, row_id, last, content_hash)
            if problem is not None:
                report.problems.append(problem)
        report.rows_checked += checked
    for (name, row_id), (seq, _hash) in sorted(latest.items(), key=lambda kv: kv[1][0]):
        if name in AUDITED_TABLES:
            report.problems.append(
                f"{name} {row_id} was removed outside the program (last audit entry #{seq})"
            )
