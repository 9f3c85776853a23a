"""Sealing an unkeyed audit trail under the site key (the ``audit_seal`` migration).

The trail is first proved link by link with the unkeyed hash it was written with; a trail
that does not prove is refused and nothing changes. Then every entry's hash is replaced by
its HMAC under the key (each covering the one before), the key's fingerprint is recorded
in ``audit_seal``, and the sealing itself is appended as an audited event that names how
many entries were sealed and the unkeyed head they had.

What this cannot do: tell a trail someone recomputed with the public unkeyed algorithm
before the upgrade from a genuine one. docs/trust-model.md says so.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel.sql.sqltypes import UTCDateTime

from cellbatch.db.audit_chain import (
    ENTRY_FIELDS,
    GENESIS_HASH,
    canonical_value,
    dumps,
    entry_mac,
    legacy_entry_hash,
    sha256,
)
from cellbatch.db.audit_chain_key import SiteKey
from cellbatch.db.migration_audit import SYSTEM_USER, append_entry
from cellbatch.domain.errors import RuleViolation

CHUNK = 5000
"""Entries read and rewritten per statement."""

_ENTRIES = sa.table(
    "audit_entry",
    *(sa.column(name) for name in ENTRY_FIELDS if name != "at"),
    sa.column("at", UTCDateTime()),
    sa.column("hash"),
)
_SEAL = sa.table(
    "audit_seal",
    sa.column("id", sa.Integer()),
    sa.column("chain_id", sa.String()),
    sa.column("key_fingerprint", sa.String()),
    sa.column("sealed_at", UTCDateTime()),
    sa.column("entries_sealed", sa.Integer()),
    sa.column("legacy_head_hash", sa.String()),
)


def _entries(connection: Connection):
    """Every entry in order, read in chunks (each fully read before anything is written)."""
    last = 0
    while True:
        rows = (
            connection.execute(
                sa.select(_ENTRIES)
                .where(_ENTRIES.c.seq > last)
                .order_by(_ENTRIES.c.seq)
                .limit(CHUNK)
            )
            .mappings()
            .all()
        )
        if not rows:
            return
        yield rows
        last = rows[-1]["seq"]


def _refuse(problem: str) -> RuleViolation:
    return RuleViolation(
        f"cannot upgrade the database: its audit trail does not prove intact ({problem}), so "
        "it cannot be sealed under the site key. Nothing was changed: restore the last "
        "verified backup (docs/trust-model.md)"
    )


def _rewrite(connection: Connection, rewrite) -> tuple[int, str, str]:
    """Recompute every entry's hash, checking the old chain's links.

    ``rewrite(entry, new_prev) -> hash``: ``entry`` as stored, ``new_prev`` the hash of
    the rewritten entry before it.

    Returns how many entries there were, the old head hash and the new one.
    """
    count, expected, old_prev, new_prev = 0, 1, GENESIS_HASH, GENESIS_HASH
    update = (
        sa.update(_ENTRIES)
        .where(_ENTRIES.c.seq == sa.bindparam("b_seq"))
        .values(prev_hash=sa.bindparam("b_prev"), hash=sa.bindparam("b_hash"))
    )
    for rows in _entries(connection):
        changes = []
        for row in rows:
            values: dict[str, Any] = dict(row)
            seq = values["seq"]
            if seq != expected:
                raise _refuse(f"entry #{expected} is missing")
            if values["prev_hash"] != old_prev:
                raise _refuse(f"entry #{seq} does not follow the entry before it")
            old_hash = values["hash"]
            new_hash = rewrite(values, new_prev)
            changes.append({"b_seq": seq, "b_prev": new_prev, "b_hash": new_hash})
            old_prev, new_prev = old_hash, new_hash
            count += 1
            expected += 1
        connection.execute(update, changes)
    head = connection.execute(sa.text("SELECT seq, hash FROM audit_head WHERE id = 1")).one()
    if head.seq != count or head.hash != old_prev:
        raise _refuse(f"its head says #{head.seq}, the trail ends at #{count}")
    connection.execute(
        sa.text("UPDATE audit_head SET hash = :hash WHERE id = 1"), {"hash": new_prev}
    )
    return count, old_prev, new_prev


def seal_trail(connection: Connection, key: SiteKey, at: datetime) -> str:
    """Prove the unkeyed trail, seal every entry under ``key``, and audit the sealing.

    Returns the new chain's identifier (``audit_seal.chain_id``).
    """

    def sealed(entry: dict[str, Any], new_prev: str) -> str:
        if legacy_entry_hash(entry) != entry["hash"]:
            raise _refuse(f"entry #{entry['seq']} was edited outside the program")
        return entry_mac(key.secret, {**entry, "prev_hash": new_prev})

    count, legacy_head, _new_head = _rewrite(connection, sealed)
    chain_id = uuid.uuid4().hex
    row = {
        "id": 1,
        "chain_id": chain_id,
        "key_fingerprint": key.fingerprint,
        "sealed_at": at,
        "entries_sealed": count,
        "legacy_head_hash": legacy_head,
    }
    connection.execute(sa.insert(_SEAL).values(**row))
    content = {name: canonical_value(value) for name, value in row.items()}
    append_entry(
        connection,
        {
            "at": at,
            "user_id": None,
            "username": SYSTEM_USER,
            "action": "seal",
            "entity": "audit_seal",
            "entity_id": "1",
            "batch_id": None,
            "field": None,
            "old_value": None,
            "new_value": dumps(content),
            "reason": (
                f"audit trail of {count} entries proved intact (unkeyed SHA-256 head "
                f"{legacy_head[:16]}) and sealed under site key {key.short}"
            ),
            "row_hash": sha256(dumps(content)),
        },
    )
    return chain_id


def unseal_trail(connection: Connection) -> None:
    """Take the trail back to unkeyed hashes (the migration's downgrade; a developer's tool)."""

    def unsealed(entry: dict[str, Any], new_prev: str) -> str:
        return legacy_entry_hash({**entry, "prev_hash": new_prev})

    _rewrite(connection, unsealed)
