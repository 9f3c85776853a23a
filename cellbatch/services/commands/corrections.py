"""Corrections: a recorded value changed with a mandatory reason; the original stays visible.

A correction is held to the rules the value was recorded under: the step kind
(:mod:`cellbatch.domain.steps`) checks the corrected entry in its context, with the same
message the step gives, and then every later entry of the batch that depends on it (a
seed's cells feed its harvest's population doublings, a harvest feeds the freeze, a thaw's
time starts the fill's window). Inventory follows (a thaw's vials), a correction that
changes nothing is refused, and the person says which value they are correcting: when the
record no longer holds that value (someone corrected it after they looked), the correction
is refused (docs/architecture.md, "Corrections").
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import select

from cellbatch import units
from cellbatch.db.database import Database
from cellbatch.db.tables import Bag, Batch, Correction, QcResult, StepEntry, Vial
from cellbatch.domain.errors import InvalidInput, NotFound, RuleViolation
from cellbatch.domain.refs import record_number
from cellbatch.domain.sop import Sop
from cellbatch.domain.steps import Field, Outcome, StepKind, kind_of
from cellbatch.domain.steps.sampling import tested_step
from cellbatch.domain.text import typed_text
from cellbatch.domain.timeparse import as_utc, parse_datetime
from cellbatch.domain.users import RECORDING_ROLES, Actor, Role
from cellbatch.services.batch_access import (
    check_work_time,
    ensure_open,
    entries,
    find_batch,
    not_before,
)
from cellbatch.services.commands.deviations import open_for_oos
from cellbatch.services.commands.qc import COMPUTED_QC_TESTS, parse_result
from cellbatch.services.commands.steps import open_range_deviations, write_dose_qc
from cellbatch.services.queries.sops import sop_of
from cellbatch.services.queries.step_context import (
    ParentRelease,
    parent_release,
    prior,
    step_context,
    vials_in_stock,
)
from cellbatch.services.uniqueness import positions_free
from cellbatch.services.unit_of_work import UnitOfWork, display

NOT_VALUES = ("flags",)
"""Stored keys that are not recorded values (the kind recomputes them)."""


def parse_entry_ref(ref: str) -> tuple[str, int]:
    """``E12`` (a step entry) or ``Q5`` (a QC result) as (kind, id)."""
    found = record_number(ref, ("E", "Q"), "step entry or QC result")
    if found is not None:
        return ("step" if found[0] == "E" else "qc"), found[1]
    raise InvalidInput(
        "ENTRY-ID",
        f"expected E<number> for a step or Q<number> for a QC "
        f"result (see batch show), got {ref.strip()[:20]!r}",
    )


def correct(
    db: Database,
    actor: Actor,
    code: str,
    ref: str,
    *,
    field: str,
    value: str,
    reason: str,
    was: str | None = None,
) -> int:
    """Correct one recorded value; returns the correction's id.

    ``was`` is the value the person is correcting, as they saw it: the correction is refused
    when the record no longer holds it (a stale screen). Both doors (``correct --was`` and
    the correction form) always send it; a program calling the service may leave it out.
    """
    actor.require(*RECORDING_ROLES, Role.QA, action="correct records")
    reason = typed_text(reason, "--reason", what="why the value is corrected (mandatory)")
    kind, entry_id = parse_entry_ref(ref)
    name = field.strip()
    with UnitOfWork(db, actor) as uow:
        batch = find_batch(uow.session, code, for_update=True)
        ensure_open(batch)
        sop = sop_of(uow.session, batch)
        if kind == "step":
            row = uow.session.get(StepEntry, entry_id)
            if row is None or row.batch_id != batch.id:
                raise NotFound(f"batch {batch.code} has no step entry E{entry_id}")
            old_text, new_text = _correct_step(uow, batch, sop, row, name, value, was, reason)
            entity = "step_entry"
        else:
            old_text, new_text = _correct_qc(uow, batch, sop, entry_id, name, value, was, reason)
            entity = "qc_result"
        correction = uow.add(
            Correction(
                batch_id=batch.id,
                entity=entity,
                entity_id=entry_id,
                field=name,
                old_value=old_text or "",
                new_value=new_text or "",
                reason=reason.strip(),
                corrected_at=uow.now,
                corrected_by=actor.id,
            ),
            batch_id=batch.id,
            reason=reason.strip(),
        )
        uow.commit()
        return correction.id


# ----------------------------------------------------------------------------- steps


def _editable(kind: StepKind, row: StepEntry) -> list[str]:
    names = [f.name for f in kind.fields if f.correctable and not f.computed]
    return sorted(n for n in names if n in row.values) + ["at"]


def _read(f: Field, sop: Sop, kind: str, text: str, option: str) -> Any:
    """A corrected (or replaced) value typed as text, read like the step reads it."""
    if f.form == "count":
        raw = text.strip()
        if not raw.isdigit():
            raise InvalidInput(option, f"expected a whole number, got {visible_short(raw)!r}")
        return int(raw)
    if f.form == "quantity" and f.measure is not None:
        step = sop.step(kind)
        measure = step.param(f.name).measure if step.has_param(f.name) else f.measure
        return units.parse(text, measure, field=option)
    return typed_text(text, option, what=f"the corrected {f.name}", one_line=True)


def visible_short(text: str) -> str:
    """The first characters of a typed text, for a message."""
    return text[:20]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, datetime) and isinstance(b, datetime):
        return as_utc(a).replace(second=0, microsecond=0) == as_utc(b).replace(
            second=0, microsecond=0
        )
    return str(a).strip().casefold() == str(b).strip().casefold()


def _shown(f: Field | None, value: Any) -> str:
    if f is not None and f.measure is not None and isinstance(value, int | float):
        if f.form == "count":
            return str(int(value))
        return units.fmt_plain(value, f.measure)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _stale(ref: str, name: str, current: str, was: str) -> RuleViolation:
    return RuleViolation(
        f"{ref} {name} is now {current}, not {was.strip()[:40]!r}: it changed after you "
        "looked; reload the record and correct the value it holds now"
    )


def _correct_step(
    uow: UnitOfWork,
    batch: Batch,
    sop: Sop,
    row: StepEntry,
    name: str,
    text: str,
    was: str | None,
    reason: str,
) -> tuple[str, str]:
    kind = kind_of(row.kind)
    ref = f"E{row.id}"
    done = entries(uow.session, batch.id)
    index = next(i for i, e in enumerate(done) if e.id == row.id)
    values = {k: v for k, v in row.values.items() if k not in NOT_VALUES}
    at = as_utc(row.performed_at)
    f = kind.field(name)
    if name == "at":
        new_at = parse_datetime(text, field="--value")
        if was is not None and not _same(parse_datetime(was, field="--was"), at):
            raise _stale(ref, "at", at.isoformat(), was)
        if _same(new_at, at):
            raise InvalidInput(
                "--value", f"{new_at:%Y-%m-%d %H:%M} UTC is the time already recorded"
            )
        _check_moved_time(uow, batch, row, new_at, done, index)
        _check_tested_results(uow, batch, sop, row, new_at, done)
        new_values, old_text, new_text = dict(values), at.isoformat(), new_at.isoformat()
        at = new_at
    else:
        if f is None or not f.correctable or f.computed or name not in values:
            raise InvalidInput(
                "--field",
                f"expected one of {', '.join(_editable(kind, row))} for this {row.kind} entry, "
                f"got {name!r}",
            )
        old = values[name]
        if was is not None and not _same(_read(f, sop, row.kind, was, "--was"), old):
            raise _stale(ref, name, _shown(f, old), was)
        new = _read(f, sop, row.kind, text, "--value")
        new_values = dict(values)
        new_values[name] = new
        old_text, new_text = _shown(f, old), _shown(f, new)
    stock: list[int] = []
    if row.kind == "thaw":
        in_stock = vials_in_stock(uow.session, batch.parent_batch_id, for_update=True)
        stock = [v.number for v in in_stock] + list(values.get("vial_numbers") or [])
    released = parent_release(uow.session, batch)
    context = step_context(
        batch, sop, row.kind, at=at, before=done[:index], stock=stock, released=released
    )
    carry = getattr(kind, "carry", None)
    if carry is not None:
        carry(values, new_values, context)
    outcome = kind.check(new_values, context)
    outcome.raise_first("--value")
    if name != "at" and _same(outcome.values.get(name), values.get(name)):
        raise InvalidInput("--value", f"{new_text} is the value already recorded")
    expires = _check_later(batch, sop, done, index, row, outcome, at, released)
    _carry_expiry(uow, batch, row, expires, reason)
    if name == "at":
        uow.change(
            row, "performed_at", at, reason=reason, batch_id=batch.id, action="correct",
            label="performed_at",
        )  # fmt: skip
        if outcome.values != values:  # a value the time carries (a fucosylation's end)
            stored_at = dict(outcome.values)
            if outcome.flags:
                stored_at["flags"] = list(outcome.flags)
            uow.change(
                row, "values", stored_at, reason=reason, batch_id=batch.id, action="correct",
                label="values",
            )  # fmt: skip
        return old_text, new_text
    stored = dict(outcome.values)
    if outcome.flags:
        stored["flags"] = list(outcome.flags)
    uow.change(
        row, "values", stored, reason=reason, batch_id=batch.id, action="correct",
        label=f"values.{name}", old_display=old_text, new_display=new_text,
    )  # fmt: skip
    if row.kind == "thaw":
        _carry_vials(uow, batch, row, values, stored, reason)
    if row.kind == "freeze":
        _carry_frozen(uow, batch, row, stored, reason)
    open_range_deviations(uow, batch, row, outcome, why="corrected to")
    if row.kind == "fill" and "target_cells" in outcome.computed:
        write_dose_qc(
            uow, batch, sop, stored["viable_cells"], outcome.computed["target_cells"],
            at=uow.now, note=f"recomputed after the correction of E{row.id}",
        )  # fmt: skip
    return old_text, new_text


def _check_later(
    batch: Batch,
    sop: Sop,
    done: list[StepEntry],
    index: int,
    row: StepEntry,
    outcome: Outcome,
    at: datetime,
    released: ParentRelease | None,
) -> datetime | None:
    """Every later entry still holds under its kind with the corrected entry before it.

    Returns the product's expiry as the fill's rules now compute it (None before the fill).
    """
    corrected = StepEntry(
        id=row.id, batch_id=row.batch_id, kind=row.kind, passage=outcome.passage,
        values=outcome.values, performed_at=at, recorded_at=row.recorded_at,
        recorded_by=row.recorded_by,
    )  # fmt: skip
    sequence = [*done[:index], corrected, *done[index + 1 :]]
    expires = outcome.expires_at if row.kind == "fill" else None
    for j in range(index + 1, len(sequence)):
        later = sequence[j]
        values = {k: v for k, v in later.values.items() if k not in NOT_VALUES}
        context = step_context(
            batch, sop, later.kind, at=later.performed_at, before=sequence[:j],
            stock=list(values.get("vial_numbers") or []), released=released,
        )  # fmt: skip
        result = kind_of(later.kind).check(values, context)
        if result.refusals:
            raise RuleViolation(
                f"the correction would break E{later.id} ({later.kind}), recorded after it: "
                f"{result.refusals[0].message}"
            )
        if later.kind == "fill":
            expires = result.expires_at
    return expires


def _carry_expiry(
    uow: UnitOfWork, batch: Batch, row: StepEntry, expires: datetime | None, reason: str
) -> None:
    """The bag's expiry follows a corrected time it runs from (the fill's or fucosylation's)."""
    if expires is None:
        return
    bags = uow.session.execute(
        select(Bag).where(Bag.batch_id == batch.id).with_for_update()
    ).scalars()
    for bag in bags:
        if bag.expires_at is None or as_utc(bag.expires_at) != as_utc(expires):
            uow.change(
                bag, "expires_at", expires, batch_id=batch.id,
                reason=f"expiry recomputed after the correction of E{row.id}: {reason.strip()}",
            )  # fmt: skip


def _carry_vials(
    uow: UnitOfWork,
    batch: Batch,
    row: StepEntry,
    old: dict[str, Any],
    new: dict[str, Any],
    reason: str,
) -> None:
    """Return vials no longer thawed to stock, take the vials newly thawed."""
    before = set(old.get("vial_numbers") or [])
    after = set(new.get("vial_numbers") or [])
    if before == after:
        return
    vials = {
        v.number: v
        for v in uow.session.execute(
            select(Vial).where(Vial.batch_id == batch.parent_batch_id).with_for_update()
        ).scalars()
    }
    for number in sorted(before - after):
        uow.change(
            vials[number], "thaw_entry_id", None, batch_id=batch.id,
            reason=f"returned to stock by the correction of E{row.id}: {reason.strip()}",
        )  # fmt: skip
    for number in sorted(after - before):
        uow.change(
            vials[number], "thaw_entry_id", row.id, batch_id=batch.id,
            reason=f"thawed for dose batch {batch.code} (correction of E{row.id})",
        )  # fmt: skip


def _carry_frozen(
    uow: UnitOfWork, batch: Batch, row: StepEntry, new: dict[str, Any], reason: str
) -> None:
    """The vials a freeze made carry its corrected cells, volume and storage place.

    A vial keeps its position in the box (``… / position N``); the number of vials is not
    corrected (the vials exist, labelled and stored: a wrong count is a deviation).
    """
    vials = list(
        uow.session.execute(
            select(Vial)
            .where(Vial.freeze_entry_id == row.id)
            .order_by(Vial.number)
            .with_for_update()
        ).scalars()
    )
    why = f"carried from the correction of E{row.id}: {reason.strip()}"
    moved: dict[int, str] = {}
    for vial in vials:
        position = vial.location.rsplit(" / position ", 1)[-1]
        where = f"{new['location']} / position {position}"
        if where != vial.location:
            moved[vial.number] = where
    fresh = [w for n, w in moved.items() if w.lower() != _vial(vials, n).location.lower()]
    try:
        positions_free(uow.session, fresh)
    except InvalidInput as error:
        raise InvalidInput("--value", error.message) from None
    for vial in vials:
        if vial.viable_cells != new["cells_per_vial"]:
            uow.change(vial, "viable_cells", new["cells_per_vial"], batch_id=batch.id, reason=why)
        if vial.volume_ml != new["volume_per_vial"]:
            uow.change(vial, "volume_ml", new["volume_per_vial"], batch_id=batch.id, reason=why)
        if vial.number in moved:
            uow.change(vial, "location", moved[vial.number], batch_id=batch.id, reason=why)


def _vial(vials: list[Vial], number: int) -> Vial:
    return next(v for v in vials if v.number == number)


def _check_moved_time(
    uow: UnitOfWork,
    batch: Batch,
    row: StepEntry,
    new: datetime,
    done: list[StepEntry],
    index: int,
) -> None:
    """A corrected work time stays in the past and between the steps before and after it."""
    check_work_time(new, uow.now, "--value")
    before = done[index - 1] if index > 0 else None
    after = done[index + 1] if index + 1 < len(done) else None
    if before is not None:
        not_before(new, before.performed_at, f"E{before.id} ({before.kind})", "--value")
    else:
        not_before(new, batch.started_at, "the batch started", "--value")
    if after is not None and new > as_utc(after.performed_at):
        raise InvalidInput(
            "--value",
            f"{new:%Y-%m-%d %H:%M} UTC is after E{after.id} ({after.kind}, "
            f"{as_utc(after.performed_at):%Y-%m-%d %H:%M} UTC); steps keep the SOP's order",
        )
    # strictly ordered, as when recording; to the second, as the record shows both times
    if after is not None and new.replace(microsecond=0) == as_utc(after.performed_at).replace(
        microsecond=0
    ):
        raise InvalidInput(
            "--value",
            f"{new:%Y-%m-%d %H:%M} UTC is the time of E{after.id} ({after.kind}): steps of a "
            "batch are done one after the other; give the time this one was done",
        )


def _check_tested_results(
    uow: UnitOfWork,
    batch: Batch,
    sop: Sop,
    row: StepEntry,
    new: datetime,
    done: list[StepEntry],
) -> None:
    """A corrected work time stays before every QC result that tests the step's cells.

    The result's tested step is the one :func:`cellbatch.domain.steps.sampling.tested_step`
    names among the steps done before the result, as when it was recorded. Results the
    program computes at the step (the cell dose) are not samples and move with it.
    """
    ref = f"E{row.id}"
    results = uow.session.execute(
        select(QcResult).where(QcResult.batch_id == batch.id).order_by(QcResult.id)
    ).scalars()
    for result in results:
        if result.test in COMPUTED_QC_TESTS:
            continue
        taken = as_utc(result.performed_at)
        then = [prior(e) for e in done if as_utc(e.performed_at) <= taken]
        tested = tested_step(result.stage, batch.kind, then)
        if tested is not None and tested.ref == ref and new > taken:
            raise InvalidInput(
                "--value",
                f"{new:%Y-%m-%d %H:%M} UTC is after Q{result.id} ({result.name}, "
                f"{taken:%Y-%m-%d %H:%M} UTC), the {result.stage} result that tests the cells "
                f"of {ref} ({row.kind}); a result is not dated before the step it tests",
            )


# ----------------------------------------------------------------------------- QC results


def _correct_qc(
    uow: UnitOfWork,
    batch: Batch,
    sop: Sop,
    entry_id: int,
    name: str,
    text: str,
    was: str | None,
    reason: str,
) -> tuple[str, str]:
    row = uow.session.execute(
        select(QcResult).where(QcResult.id == entry_id).with_for_update()
    ).scalar_one_or_none()
    if row is None or row.batch_id != batch.id:
        raise NotFound(f"batch {batch.code} has no QC result Q{entry_id}")
    if name != "value":
        raise InvalidInput("--field", "a QC result's correctable field is 'value'")
    test = sop.qc_test(row.qc_id)
    if test.test in COMPUTED_QC_TESTS:
        raise InvalidInput(
            "--field",
            f"Q{row.id} ({test.id}) is computed by the program from the bag's fill; "
            f"correct the fill's volume or viable cells instead",
        )
    current = row.value_text if row.value_text is not None else row.value_num
    old_text = row.value_text or display(row.value_num) or ""
    if was is not None and not _same(parse_result(test, was), current):
        shown = row.value_text or (
            units.fmt_plain(row.value_num, test.measure) if test.measure else old_text
        )
        raise _stale(f"Q{row.id}", "value", shown, was)
    parsed = parse_result(test, text)
    if _same(parsed, current):
        raise InvalidInput("--value", f"{text.strip()[:40]!r} is the result already recorded")
    if isinstance(parsed, str):
        uow.change(row, "value_text", parsed, reason=reason, batch_id=batch.id, action="correct")
        new_text = parsed
    else:
        uow.change(row, "value_num", parsed, reason=reason, batch_id=batch.id, action="correct")
        new_text = display(parsed) or ""
    passed = test.evaluate(parsed)
    if passed != row.passed:
        uow.change(row, "passed", passed, reason=reason, batch_id=batch.id, action="correct")
        if not passed:  # corrected out of specification: investigate like any OOS
            open_for_oos(uow, batch, test, row)
    return old_text, new_text
