"""Treatment plans: the cohort's dose, the infusion days, their windows and make-by times.

A plan follows the dose SOP: its infusion days (eASC: 1, 8, 15) counted from day 1, its cohort
doses (the recipient's cohort picks one, fixed for the patient), and its time windows, from
which the times a dose must be made by are worked back from the planned infusion time:

- the bag must be ready (filled; released and issued afterwards) ``lead`` before the infusion;
- it expires ``shelf_life`` after its fill (or the end of fucosylation), so that event must
  come no earlier than ``shelf_life`` before the infusion;
- the fill follows the thaw within ``thaw_to_fill_max``, so the thaw comes no earlier than
  that much before the earliest fill.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from cellbatch.domain.bedside import GIVEN
from cellbatch.domain.errors import InvalidInput
from cellbatch.domain.sop import Sop

MAX_WINDOW_DAYS = 3
"""Widest window a plan may give a later infusion (± days)."""

MAX_LEAD = timedelta(hours=12)
"""Longest time a plan may allow between the fill and the infusion (transport, issue)."""


def cohort_dose(sop: Sop, cohort: int, field: str = "--dose") -> float:
    """The cohort's dose per kg (canonical cells/kg): the SOP's ``cohort``-th cohort dose."""
    doses = sop.dose.cohort_doses  # type: ignore[union-attr]
    if not 1 <= cohort <= len(doses):
        raise InvalidInput(
            field,
            f"the recipient's cohort {cohort} has no dose in {sop.label}: its cohorts are 1 to "
            f"{len(doses)} ({', '.join(d.display() for d in doses)})",
        )
    return doses[cohort - 1].value


def window_days(days: int, field: str = "--window") -> int:
    """A plan's window for later infusions: 0 to MAX_WINDOW_DAYS days either side."""
    if not 0 <= days <= MAX_WINDOW_DAYS:
        raise InvalidInput(field, f"expected 0 to {MAX_WINDOW_DAYS} days, got {days}")
    return days


def lead_time(lead: timedelta, field: str = "--lead") -> timedelta:
    """Time from the fill to the infusion the plan allows for release, issue and transport."""
    if not timedelta(0) < lead <= MAX_LEAD:
        raise InvalidInput(field, f"expected more than 0 and at most 12 h, got {lead}")
    return lead


def planned_days(sop: Sop, day_one: date) -> list[tuple[int, int, date]]:
    """(infusion number, SOP day, date) of each infusion, day 1 being ``day_one``."""
    days = sop.dose.infusion_days  # type: ignore[union-attr]
    return [(n, d, day_one + timedelta(days=d - 1)) for n, d in enumerate(days, start=1)]


def within_window(wanted: date, planned: date, window: int, number: int) -> bool:
    """Whether a (re)scheduled infusion day is within the plan's window; day 1 has none."""
    allowed = 0 if number == 1 else window
    return abs((wanted - planned).days) <= allowed


@dataclass(frozen=True)
class MakeBy:
    """The times a dose for one planned infusion must be made within (UTC)."""

    thaw_from: datetime
    """Earliest thaw: thawed earlier, the bag would expire before the infusion."""
    made_from: datetime
    """Earliest fill (or end of fucosylation): the event the bag's expiry counts from."""
    fill_by: datetime
    """Latest fill: the bag is then released, issued and carried to the bedside."""
    expiry_from: str
    """What the expiry counts from: ``fill`` or ``fucosylation_end``."""


def make_by(sop: Sop, infusion_at: datetime, lead: timedelta) -> MakeBy:
    """The make-by times of a dose for an infusion at ``infusion_at`` (see the module)."""
    rules = sop.dose
    assert rules is not None
    made_from = infusion_at - rules.shelf_life.as_timedelta()
    to_fill = sop.windows.thaw_to_fill_max
    thaw_from = made_from - (to_fill.as_timedelta() if to_fill else timedelta(0))
    return MakeBy(
        thaw_from=thaw_from,
        made_from=made_from,
        fill_by=infusion_at - lead,
        expiry_from=rules.expiry_from,
    )


@dataclass(frozen=True)
class DoseMade:
    """A dose batch made for one planned infusion, as the plan's rules see it."""

    infusion: int
    rejected: bool
    bags: int
    """How many bags it has (none yet while in production before the fill)."""
    fates: tuple[str, ...]
    """The fate of each of its bags that has an infusion record (``domain.bedside.FATES``)."""

    @property
    def given(self) -> bool:
        """Whether a bag of it was infused, fully or partly."""
        return any(f in GIVEN for f in self.fates)

    @property
    def pending(self) -> bool:
        """Whether it may still be given: not rejected, not given, a bag without a fate."""
        if self.rejected or self.given:
            return False
        return self.bags == 0 or len(self.fates) < self.bags


def infusion_done(number: int, doses: list[DoseMade]) -> bool:
    """An infusion is done when a bag made for it was infused (fully or partly)."""
    return any(d.infusion == number and d.given for d in doses)


def next_to_give(numbers: list[int], doses: list[DoseMade]) -> int | None:
    """The plan's lowest infusion not done: the one the bedside gives next (None: all done)."""
    return next((n for n in sorted(numbers) if not infusion_done(n, doses)), None)


def next_to_make(numbers: list[int], doses: list[DoseMade]) -> int | None:
    """The plan's lowest infusion a new dose batch is for (None: every one is done or made).

    An infusion not done and with no dose that may still be given: never made, or its dose
    was not given (its batch rejected, each bag recorded not infused or discarded), so the
    new batch replaces it. An infusion whose dose is in production or waiting to be given is
    not made twice.
    """
    return next(
        (
            n
            for n in sorted(numbers)
            if not infusion_done(n, doses) and not any(d.infusion == n and d.pending for d in doses)
        ),
        None,
    )
