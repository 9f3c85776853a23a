"""Anchoring the audit trail: its head written to the anchor log, outside the database.

Called after every release (the head that includes the release), by ``cellbatch audit
anchor``, for every printed batch record (the head the record was built from, which the
record shows), and after a verify that proved the trail (``verified``: where the next
incremental verify starts). See :mod:`cellbatch.db.audit_chain_anchors`.

Each anchor a release, ``audit anchor`` or a verify writes is also recorded in the trail
itself (an ``anchor`` entry naming its line, sealed like every entry): the database knows
which anchors were written, so ``audit verify`` fails when the anchor log in use lacks one
(a log missing, emptied or swapped). The line is appended and flushed to the log first,
while the write lock is held, and the entry committed after: a crash between leaves the
log one anchor ahead of the trail (harmless: that anchor still names a real entry), never
behind. A printed record's anchor is not recorded: printing never changes the trail it
prints (docs/trust-model.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from cellbatch.db.audit_chain import sha256
from cellbatch.db.audit_chain_anchors import Anchor, append_anchor, check_anchor_log
from cellbatch.db.audit_chain_key import SiteKeyProblem
from cellbatch.db.database import Database, server_now
from cellbatch.db.failures import database_problem
from cellbatch.db.migration_audit import SITE_KEY_INFO, SYSTEM_USER, append_entry

RECORDED_KINDS = ("release", "anchor", "verified")
"""The anchors the trail records as it writes them (not a printed record's)."""

ANCHOR_ENTITY = "audit_anchor"
"""The ``entity`` of the entries that record an anchor (``new_value``: its log line)."""


def _chain_id(db: Database) -> str:
    if db._chain_id is None:
        try:
            with db.session() as session:
                db._chain_id = session.execute(
                    text("SELECT chain_id FROM audit_seal WHERE id = 1")
                ).scalar_one()
        except DBAPIError as exc:
            raise database_problem(exc) from exc
    return db._chain_id


def head_anchor(db: Database, kind: str) -> Anchor:
    """The trail's head now (or as the snapshot ``db`` sees it), as an anchor of ``kind``."""
    key = db.site_key()
    try:
        with db.session() as session:
            row = session.execute(text("SELECT seq, hash FROM audit_head WHERE id = 1")).one()
    except DBAPIError as exc:
        raise database_problem(exc) from exc
    return Anchor(_chain_id(db), row.seq, row.hash, datetime.now(UTC), key.fingerprint, kind)


def entry_anchor(db: Database, seq: int, hash_: str, kind: str) -> Anchor:
    """An anchor for the entry ``seq`` (whose hash is ``hash_``) of this database's trail."""
    return Anchor(_chain_id(db), seq, hash_, datetime.now(UTC), db.site_key().fingerprint, kind)


def ensure_anchor_log(db: Database) -> None:
    """Refuse (SiteKeyProblem) an anchor log that could not take a decision's anchor.

    Called before anything is written, so a release is never left unanchored.
    """
    check_anchor_log(db.anchor_log)


@dataclass(frozen=True)
class PrintedAnchor:
    """The audit trail's head a document was built from, as the document prints it."""

    seq: int
    hash: str
    at: str
    """When it was anchored, ISO UTC (``2026-11-22T03:18:04Z``)."""
    anchored: bool
    """Whether it was written to the anchor log (not for a read-only archive copy)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON output."""
        return asdict(self)


def printed_anchor(db: Database) -> PrintedAnchor:
    """Anchor the head a document is built from, and what the document prints of it.

    A read-only copy read without its site key or anchor log (an archive) still prints its
    head; ``anchored`` then says it was not written to an anchor log.
    """
    try:
        anchor, anchored = write_anchor(db, "record"), True
    except SiteKeyProblem:
        if not db.read_only_media:
            raise
        with db.session() as session:
            row = session.execute(text("SELECT seq, hash FROM audit_head WHERE id = 1")).one()
        anchor = Anchor("", row.seq, row.hash, datetime.now(UTC), "", "record")
        anchored = False
    return PrintedAnchor(anchor.seq, anchor.hash, f"{anchor.at:%Y-%m-%dT%H:%M:%SZ}", anchored)


def write_anchor(db: Database, kind: str, anchor: Anchor | None = None) -> Anchor:
    """Append ``anchor`` (by default the head now) to the anchor log, flushed to disk.

    Anchors of ``RECORDED_KINDS`` are also recorded in the trail, in one transaction under
    the write lock, the log line written before the entry is committed.
    """
    if kind not in RECORDED_KINDS:
        anchor = anchor or head_anchor(db, kind)
        append_anchor(db.anchor_log, anchor)
        return anchor
    key = db.site_key()
    try:
        with db.write_session() as session:
            anchor = anchor or head_anchor(db, kind)
            append_anchor(db.anchor_log, anchor)
            connection = session.connection()
            connection.info[SITE_KEY_INFO] = key
            line = anchor.text()
            append_entry(
                connection,
                {
                    "at": server_now(session),
                    "user_id": None,
                    "username": SYSTEM_USER,
                    "action": "anchor",
                    "entity": ANCHOR_ENTITY,
                    "entity_id": str(anchor.seq),
                    "batch_id": None,
                    "field": None,
                    "old_value": None,
                    "new_value": line,
                    "reason": f"{kind} anchor written to the anchor log {db.anchor_log}",
                    "row_hash": sha256(line),
                },
            )
            session.commit()
    except DBAPIError as exc:
        raise database_problem(exc) from exc
    return anchor


def verified_anchor(db: Database, chain_id: str, seq: int, hash_: str) -> Anchor:
    """The anchor a verify writes for the head it proved (``seq`` and ``hash_``)."""
    return Anchor(chain_id, seq, hash_, datetime.now(UTC), db.site_key().fingerprint, "verified")
