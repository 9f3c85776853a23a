"""Late results: QC results recorded after the batch's release (a result after infusion).

Only a test the SOP marks ``result_after_infusion`` may be recorded on a released batch
(``services.commands.qc``). Such a result is not part of what the release signature covers,
and the record marks it; both ask :func:`after_release`.
"""

from __future__ import annotations

from datetime import datetime

from cellbatch.domain.timeparse import as_utc


def released_at(decisions: list[tuple[str, datetime]]) -> datetime | None:
    """When the batch was released, from its QA decisions ``(decision, decided_at)``."""
    return next((as_utc(at) for decision, at in decisions if decision == "release"), None)


def after_release(recorded_at: datetime, released: datetime | None) -> bool:
    """Whether a result recorded at ``recorded_at`` is a late result (after the release)."""
    return released is not None and as_utc(recorded_at) > released
