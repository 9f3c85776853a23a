"""The nightly check's result: audit verify and backup, as the QA home screen shows it.

The nightly job (``cellbatch nightly``, a systemd timer in the deployment) writes its result
to a small JSON file the service account owns; the QA home screen reads it. A result older
than :data:`LATE_AFTER` is shown as late: a job that silently stopped is as bad as one that
failed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

LATE_AFTER = timedelta(hours=26)
"""A nightly result older than this means the job did not run last night."""


@dataclass(frozen=True)
class NightlyResult:
    """What last night's check found."""

    at: str
    """When it finished (ISO 8601 UTC, ``Z``)."""
    audit_ok: bool
    audit_message: str
    backup_ok: bool
    backup_message: str
    backup_file: str | None = None

    @property
    def ok(self) -> bool:
        """Both parts passed."""
        return self.audit_ok and self.backup_ok

    def to_json(self) -> bytes:
        """The status file's content."""
        return (json.dumps(asdict(self), indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, raw: bytes) -> NightlyResult:
        """Read a status file; ValueError when it is not one."""
        data = json.loads(raw.decode("utf-8"))
        return cls(
            at=str(data["at"]),
            audit_ok=bool(data["audit_ok"]),
            audit_message=str(data["audit_message"]),
            backup_ok=bool(data["backup_ok"]),
            backup_message=str(data["backup_message"]),
            backup_file=data.get("backup_file"),
        )

    def summary(self, now: datetime) -> str:
        """One line for the QA home screen."""
        try:
            when = datetime.fromisoformat(self.at)
        except ValueError:
            return f"Nightly check: result unreadable (time {self.at!r})"
        late = now - when > LATE_AFTER
        head = "LATE — " if late else ""
        stamp = when.strftime("%Y-%m-%d %H:%M UTC")
        if self.ok:
            return f"Nightly check {stamp}: {head}audit trail intact, backup made"
        problems = [
            m
            for ok, m in (
                (self.audit_ok, self.audit_message),
                (self.backup_ok, self.backup_message),
            )
            if not ok
        ]
        return f"Nightly check {stamp}: {head}FAILED — " + "; ".join(problems)
