"""The rules of a second recall, one place for every door (CLI, terminal UI).

A recall holds what a look-back from an origin reaches and opens an adverse-event report per
bag already infused (``services.commands.recall``). Recalling again must not duplicate what
is still being followed up (docs/clinic.md, "Look-back and recall"):

* an origin (same kind and reference, as the look-back names it: ``bank EASC-B001``) already
  recalled under a hold that is still open on any of its batches is refused, naming that hold
  and its deviations; once the hold is lifted from every batch, the origin may be recalled
  again;
* a recall from another origin reaching an infused bag whose recall report is still open
  opens no second report: it names the report that stays open. A closed report does not
  count (a new recall opens a new one), nor does a report opened by a failing late result;
* holds are not deduplicated: each recall places its own hold with its own deviation on
  every batch it reaches, held already or not (each cause is investigated and lifted on its
  own).
"""

from __future__ import annotations

from dataclasses import dataclass

from cellbatch.domain.errors import RuleViolation


@dataclass(frozen=True)
class OpenRecall:
    """A recall hold still open on some batch: ``H1``, when and by whom, and its deviations."""

    hold: str
    placed_at: str
    placed_by: str
    deviations: tuple[tuple[str, str], ...]
    """(``D3``, batch code) for each batch the hold still holds."""


def ensure_not_recalled(origin: str, open_recalls: list[OpenRecall]) -> None:
    """Refuse a recall of ``origin`` while an earlier recall of it is still on hold."""
    if not open_recalls:
        return
    shown = "; ".join(
        f"hold {r.hold} (placed {r.placed_at} by {r.placed_by}) on "
        + ", ".join(f"{code} (deviation {dev})" for dev, code in r.deviations)
        for r in open_recalls
    )
    first = open_recalls[0].hold
    raise RuleViolation(
        f"{origin} is already recalled under a hold still open: {shown}. Nothing was written: "
        f"follow up that recall (cellbatch hold show {first}); {origin} can be recalled again "
        "once that hold is lifted from every batch"
    )


def report_stays_open(report: str, recipient: str, batch: str, bag: int) -> str:
    """How a recall names the open report it does not open again (output and record)."""
    return f"adverse-event report {report} stays open for {recipient}, {batch} bag {bag}"
