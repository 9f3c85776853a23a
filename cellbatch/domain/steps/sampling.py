"""Which step a QC sample tests: a result is never dated before the cells it was taken from.

An in-process sample is taken from the cells as the latest step before the batch's final
step (freeze, fill) left them: the bank's viability before freezing tests the last harvest,
the viability after fucosylation tests the fucosylation. A release sample tests the
finished product: the final step, once it is done (else the latest step).
"""

from __future__ import annotations

from collections.abc import Sequence

from cellbatch.domain.steps.base import Prior
from cellbatch.domain.steps.registry import kinds_of_sop


def tested_step(stage: str, sop_kind: str, entries: Sequence[Prior]) -> Prior | None:
    """The entry whose cells a QC sample of ``stage`` comes from (None before any step)."""
    kinds = kinds_of_sop(sop_kind)
    final = kinds[-1].name if kinds else None
    if stage == "in-process":
        return next((e for e in reversed(entries) if e.kind != final), None)
    return entries[-1] if entries else None
