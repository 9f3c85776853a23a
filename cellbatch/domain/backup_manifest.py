"""What a backup says about itself: the manifest (GMP-33).

The manifest names the program and schema that made the backup, the database it came from,
the last link of the audit chain it holds, the anchors when there are any, and the SHA-256
and size of each part. Restore trusts nothing in a backup file until the manifest and every
part agree.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from cellbatch.domain.errors import InvalidInput

FORMAT = "cellbatch-backup/1"
"""The format of the backup file this program writes and reads."""

BACKENDS = ("sqlite", "postgresql")

DATABASE_PART = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
"""The name of the database part for each backend."""

PART_NAMES = frozenset({*DATABASE_PART.values(), "anchors.log"})
"""Every name a part may have: nothing else is ever unpacked (no path, no other file)."""


class BackupRefused(InvalidInput):
    """A backup file that must not be restored: damaged, mismatched, or not a backup."""

    def __init__(self, message: str, field: str = "FILE") -> None:
        super().__init__(field, message)


@dataclass(frozen=True)
class BackupPart:
    """One file inside a backup, with its SHA-256 and size."""

    name: str
    sha256: str
    bytes: int
    what: str


@dataclass(frozen=True)
class BackupManifest:
    """Everything a backup states about itself (``manifest.json`` inside the file)."""

    cellbatch_version: str
    backend: str
    schema_revision: str
    audit_entries: int
    audit_head_hash: str
    made_at: str
    made_by: str
    source: str
    parts: tuple[BackupPart, ...]
    anchors: dict[str, Any] | None = None
    format: str = FORMAT
    notes: tuple[str, ...] = field(default=())

    def part(self, name: str) -> BackupPart:
        """The part called ``name``."""
        return next(p for p in self.parts if p.name == name)

    @property
    def database_part(self) -> BackupPart:
        """The part holding the database itself."""
        return self.part(DATABASE_PART[self.backend])

    def to_json(self) -> bytes:
        """The manifest as written into the backup (UTF-8 JSON, keys sorted)."""
        data = asdict(self)
        data["parts"] = [asdict(p) for p in self.parts]
        data["notes"] = list(self.notes)
        return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()

    @classmethod
    def from_json(cls, raw: bytes) -> BackupManifest:
        """Read a manifest, refusing anything that is not one this program wrote."""
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise BackupRefused("manifest.json is damaged (not valid JSON)") from None
        if not isinstance(data, dict):
            raise BackupRefused("manifest.json is damaged (not a JSON object)")
        if data.get("format") != FORMAT:
            raise BackupRefused(
                f"manifest.json says format {data.get('format')!r}; this program reads {FORMAT}"
            )
        try:
            parts = tuple(
                BackupPart(str(p["name"]), str(p["sha256"]), int(p["bytes"]), str(p["what"]))
                for p in data["parts"]
            )
            manifest = cls(
                cellbatch_version=str(data["cellbatch_version"]),
                backend=str(data["backend"]),
                schema_revision=str(data["schema_revision"]),
                audit_entries=int(data["audit_entries"]),
                audit_head_hash=str(data["audit_head_hash"]),
                made_at=str(data["made_at"]),
                made_by=str(data["made_by"]),
                source=str(data["source"]),
                parts=parts,
                anchors=data.get("anchors"),
                notes=tuple(str(n) for n in data.get("notes", ())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BackupRefused(
                f"manifest.json is damaged (field {exc} missing or wrong)"
            ) from None
        if manifest.backend not in BACKENDS:
            raise BackupRefused(f"manifest.json names an unknown database {manifest.backend!r}")
        names = [p.name for p in parts]
        strange = [n for n in names if n not in PART_NAMES]
        if strange or len(set(names)) != len(names):
            shown = ", ".join(repr(n[:40]) for n in strange) or "a part twice"
            raise BackupRefused(
                f"manifest.json lists {shown}: a cellbatch backup holds only "
                f"{', '.join(sorted(PART_NAMES))}"
            )
        if DATABASE_PART[manifest.backend] not in names:
            raise BackupRefused("manifest.json lists no database part")
        return manifest
