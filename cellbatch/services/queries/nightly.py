"""The nightly check's last result, for the QA home screen (file written by the job)."""

from __future__ import annotations

from datetime import UTC, datetime

from cellbatch.domain.nightly import NightlyResult
from cellbatch.settings import nightly_status_file


def nightly_line(now: datetime | None = None) -> str | None:
    """One line about last night's audit verify and backup; None where no job is configured."""
    path = nightly_status_file()
    if path is None:
        return None
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return "Nightly check: NOT RUN YET (no result recorded)"
    except OSError as exc:
        return f"Nightly check: result cannot be read ({exc.strerror or exc})"
    try:
        result = NightlyResult.from_json(raw)
    except (ValueError, KeyError, TypeError):
        return "Nightly check: result file damaged"
    return result.summary(now or datetime.now(UTC))
