"""Canonical content and hashes of audited rows and of audit entries.

A row's canonical content is a JSON object of its columns, sorted by name, with times
as ISO 8601 UTC and floats in ``repr`` form, so SQLite and PostgreSQL give the same bytes
for the same record.

Each audit entry is sealed by an HMAC-SHA256 under the site key (:func:`entry_mac`) over
its fields and the previous entry's seal, so the trail is a keyed chain: without the key
nobody can make a link that verifies. Trails written before the key existed used a plain
SHA-256 (:func:`legacy_entry_hash`); the sealing migration checks them with it and seals
them under the key (docs/trust-model.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlmodel import SQLModel

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first audit entry."""

REDACTED_FIELDS = frozenset(
    {"password_hash", "patient_name", "patient_birth_date", "patient_hospital_number"}
)
"""Columns hashed into the chain but never written out as audit values (secrets, and who a
recipient is: the audit trail is read by more roles than the clinic and QA)."""


def canonical_value(value: Any) -> Any:
    """A JSON-ready form of a column value that is the same on every database."""
    kind = type(value)
    if kind is str or kind is int or value is None:  # most values: as they are, at once
        return value
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return {str(k): canonical_value(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [canonical_value(v) for v in value]
    return value


def row_content(row: SQLModel) -> dict[str, Any]:
    """The canonical content of a row: every column, by name."""
    table = row.__table__  # type: ignore[attr-defined]
    return {col.name: canonical_value(getattr(row, col.name)) for col in table.columns}


def dumps(content: Any) -> str:
    """Serialise canonical content deterministically."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256(text: str) -> str:
    """Hex SHA-256 of a text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def row_hash(row: SQLModel) -> str:
    """Hash of a row's canonical content, as recorded in the audit entry that wrote it."""
    return sha256(dumps(row_content(row)))


def public_content(row: SQLModel) -> dict[str, Any]:
    """A row's content for showing in the audit trail, with secrets redacted."""
    content = row_content(row)
    for name in REDACTED_FIELDS & content.keys():
        content[name] = "<redacted>"
    return content


ENTRY_FIELDS = (
    "seq",
    "at",
    "user_id",
    "username",
    "action",
    "entity",
    "entity_id",
    "batch_id",
    "field",
    "old_value",
    "new_value",
    "reason",
    "row_hash",
    "prev_hash",
)
"""The audit-entry columns its own hash covers (everything but the hash)."""


def legacy_entry_hash(values: dict[str, Any]) -> str:
    """The unkeyed SHA-256 of an entry, as trails were chained before the site key.

    Anyone can recompute it: only the sealing migration still reads it.
    """
    return sha256(dumps({name: canonical_value(values.get(name)) for name in ENTRY_FIELDS}))


MAC_PREFIX = "cellbatch audit entry v2\n"
"""What every sealed message starts with: a keyed seal is never valid as anything else."""

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _c_encoder(*, sort_keys: bool):
    """``json.dumps(value, sort_keys=..., ensure_ascii=False, separators=(",", ":"))``.

    ``JSONEncoder.encode`` builds its C encoder anew on every call, which costs more than
    the HMAC itself when a verify proves millions of entries; this builds it once (the same
    C encoder with the same arguments, so the same bytes) and falls back to the plain
    encoder without it. There is no circular check: canonical values are trees.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        plain = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys)
        return plain.encode
    encoder = make(
        None,  # no circular check
        _ENCODER.default,
        json.encoder.encode_basestring,  # type: ignore[attr-defined]
        None,
        ":",
        ",",
        sort_keys,
        False,
        True,
    )
    return lambda value: "".join(encoder(value, 0))


encode_fields = _c_encoder(sort_keys=False)
"""The compact JSON text of a flat list (or tuple) of canonical field values."""

encode_content = _c_encoder(sort_keys=True)
"""``dumps`` of canonical content, with the encoder built once (for streaming many rows)."""


def entry_message(fields: list[Any]) -> bytes:
    """The bytes an entry's seal covers: its canonical fields in ``ENTRY_FIELDS`` order."""
    return (MAC_PREFIX + encode_fields(fields)).encode("utf-8")


def mac(secret: bytes, message: bytes) -> str:
    """Hex HMAC-SHA256 of ``message`` under ``secret``."""
    return hmac.digest(secret, message, "sha256").hex()


def entry_mac(secret: bytes, values: dict[str, Any]) -> str:
    """The seal of an audit entry under the site key, covering the previous entry's seal."""
    return mac(secret, entry_message([canonical_value(values.get(n)) for n in ENTRY_FIELDS]))
