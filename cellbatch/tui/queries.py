"""What the screens show, gathered from the services in a worker thread as plain data.

Nothing here decides anything: it calls the services and arranges their read models for
display (which batches are in process, which time windows are running). Services are
imported inside the functions so that starting the UI stays fast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cellbatch.domain.sop import Sop
    from cellbatch.domain.steps import StepContext
    from cellbatch.domain.users import Actor
    from cellbatch.services.database import Database
    from cellbatch.services.queries.batch_view_model import BatchView
    from cellbatch.services.queries.home import Deadline, HomeData


def parse_iso(text: str) -> datetime:
    """An ISO UTC timestamp from a read model as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def sop_of_view(view: BatchView, db: Database) -> Sop:
    """The SOP a batch was made under: the copy pinned in the database, never the file."""
    from cellbatch.services.queries.sops import pinned_sop

    return pinned_sop(db, view.sop.content_hash)


def step_context_of(
    view: BatchView, sop: Sop, kind: str, at: datetime, stock: tuple[int, ...] = ()
) -> StepContext:
    """The context of the batch's next ``kind`` step, from its read model (no database)."""
    from cellbatch.domain.steps import Prior, StepContext

    before = tuple(
        Prior(
            s.id,
            s.kind,
            s.passage,
            {name: getattr(value, "value", value) for name, value in s.values.items()},
            parse_iso(s.performed_at),
        )
        for s in view.steps
    )
    dose = view.dose
    return StepContext(
        step=sop.step(kind),
        sop_label=sop.label,
        at=at,
        started_at=parse_iso(view.started_at),
        before=before,
        expansion=sop.expansion,
        dose=sop.dose,
        windows=sop.windows,
        dose_per_kg=dose.dose_per_kg.value if dose else None,
        body_weight_kg=dose.body_weight.value if dose else None,
        stock=stock,
    )


def deadlines_of(view: BatchView, db: Database) -> list[Deadline]:
    """The running windows of a dose batch: what its step kinds say of the steps to come."""
    from cellbatch.domain.steps import kind_of
    from cellbatch.services.queries.home import Deadline

    dose = view.dose
    if dose is None or view.locked:
        return []
    recipient = dose.recipient or ""
    if dose.fill is not None:
        if not dose.expiry:
            return []
        return [Deadline(view.code, recipient, "infuse by (expiry)", parse_iso(dose.expiry))]
    sop = sop_of_view(view, db)
    done = {s.kind for s in view.steps}
    last = view.steps[-1].performed_at if view.steps else view.started_at
    out: list[Deadline] = []
    for step in sop.steps:
        if step.kind in done:
            continue
        context = step_context_of(view, sop, step.kind, parse_iso(last))
        for what, due in kind_of(step.kind).deadlines(context):
            out.append(Deadline(view.code, recipient, what, due))
    return out


def home_data(db: Database, actor: Actor, today: date) -> HomeData:
    """The home screen of ``actor``, from its read service (a bounded number of statements)."""
    from cellbatch.services.queries.home import home_data as read_home

    return read_home(db, actor, today)


def materials_by_lot(db: Database) -> dict[str, dict[str, Any]]:
    """Every material lot by lot number (for checking a scanned lot as it is typed)."""
    from cellbatch.services.queries.donors import list_materials

    return {m["lot"]: m for m in list_materials(db)}


@dataclass(frozen=True)
class PickLists:
    """What the fields of a new batch pick from."""

    sops: tuple[str, ...]
    """IDs of the SOPs with an approved version for the kind of batch."""
    banks: tuple[str, ...] = ()
    """Released banks (a dose batch's parent)."""
    recipients: tuple[str, ...] = ()
    """The registered recipients, by ID."""
    example_code: str = ""
    """A free code formed as this kind's codes are (``EASC-B002`` for a bank, ``FUC-D002``)."""


KIND_LETTER = {"expansion": "B", "dose": "D"}
"""The letter before a batch code's number: a bank ``EASC-B001``, a dose ``EASC-D001``."""


def example_code(kind: str, newest_first: list[tuple[str, str]]) -> str:
    """The code after the newest batch of ``kind`` (``(code, kind)`` pairs), not yet taken.

    Only an example under the field: the service takes any free code the domain's code rule
    accepts. With no batch of the kind yet, the newest batch's product with the kind's letter.
    """
    taken = {code for code, _ in newest_first}
    letter = KIND_LETTER.get(kind, "B")
    same = [code for code, k in newest_first if k == kind]
    match = next(filter(None, (re.fullmatch(r"(.*?)(\d+)", code) for code in same)), None)
    if match is None:
        products = [code.split("-")[0] for code, _ in newest_first if "-" in code]
        prefix, number, width = f"{(products or ['EASC'])[0]}-{letter}", 0, 3
    else:
        prefix, number, width = match[1], int(match[2]), len(match[2])
    while True:
        number += 1
        code = f"{prefix}{number:0{width}d}"
        if code not in taken:
            return code


def pick_lists(db: Database, kind: str) -> PickLists:
    """The approved SOPs of ``kind``, the released banks, the registered recipients, an example."""
    from cellbatch.domain.errors import CellbatchError
    from cellbatch.services.queries.batches import list_batches
    from cellbatch.services.queries.sops import available_sops

    try:
        sops = tuple(sorted({s.id for s in available_sops() if s.kind == kind and s.is_approved}))
    except CellbatchError:  # a broken SOP file is reported when the batch is started
        sops = ()
    example = example_code(kind, [(b.code, b.kind) for b in list_batches(db, limit=500)])
    if kind != "dose":
        return PickLists(sops, example_code=example)
    banks = tuple(
        b.code for b in list_batches(db, status="released", limit=200) if b.kind == "expansion"
    )
    from cellbatch.services.queries.recipients import recipient_list

    return PickLists(sops, banks, tuple(r.code for r in recipient_list(db)), example)
