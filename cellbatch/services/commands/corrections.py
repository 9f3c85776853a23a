"""Corrections: a recorded value changed with a mandatory reason; the original stays visible."""

from __future__ import annotations

from sqlalchemy import select

from cellbatch import units
from cellbatch.db.database import Database
from cellbatch.db.tables import Correction, QcResult, StepEntry
from cellbatch.domain.errors import InvalidInput, NotFound
from cellbatch.domain.refs import record_number
from cellbatch.domain.text import LOCATION, typed_text
from cellbatch.domain.timeparse import as_utc, parse_datetime
from cellbatch.domain.users import RECORDING_ROLES, Actor, Role
from cellbatch.services.batch_access import (
    check_range,
    check_work_time,
    ensure_open,
    entries,
    find_batch,
    not_before,
)
from cellbatch.services.commands.deviations import open_for_oos
from cellbatch.services.commands.qc import parse_result
from cellbatch.services.commands.steps import check_fill, check_vessel, write_dose_qc
from cellbatch.services.queries.sops import sop_of
from cellbatch.services.unit_of_work import UnitOfWork, display

MEASURED = frozenset({"viability", "confluence", "total_cells"})
"""Measured outcomes: a correction is recorded even outside the SOP range (then flagged)."""


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
    db: Database, actor: Actor, code: str, ref: str, *, field: str, value: str, reason: str
) -> int:
    """Correct one recorded value; returns the correction's id."""
    actor.require(*RECORDING_ROLES, Role.QA, action="correct records")
    reason = typed_text(reason, "--reason", what="why the value is corrected (mandatory)")
    kind, entry_id = parse_entry_ref(ref)
    with UnitOfWork(db, actor) as uow:
        batch = find_batch(uow.session, code, for_update=True)
        ensure_open(batch)
        sop = sop_of(uow.session, batch)
        if kind == "step":
            row = uow.session.get(StepEntry, entry_id)
            if row is None or row.batch_id != batch.id:
                raise NotFound(f"batch {batch.code} has no step entry E{entry_id}")
            old, new, old_text, new_text = _step_value(row, sop, field.strip(), value)
            if field.strip() == "at":
                _check_moved_time(uow, batch, row, new)
                uow.change(
                    row,
                    "performed_at",
                    new,
                    reason=reason,
                    batch_id=batch.id,
                    action="correct",
                    label="performed_at",
                )
            else:
                values = dict(row.values)
                values[field.strip()] = new
                target = None
                if row.kind == "fill" and field.strip() in ("volume", "viable_cells"):
                    # a corrected bag meets the same rules as a new one
                    target = check_fill(
                        batch, sop, values["volume"], values["viable_cells"], ("--value", "--value")
                    )
                uow.change(
                    row,
                    "values",
                    values,
                    reason=reason,
                    batch_id=batch.id,
                    action="correct",
                    label=f"values.{field.strip()}",
                    old_display=old_text,
                    new_display=new_text,
                )
                if target is not None:
                    write_dose_qc(
                        uow,
                        batch,
                        sop,
                        values["viable_cells"],
                        target.target_cells,
                        at=uow.now,
                        note=f"recomputed after the correction of E{row.id}",
                    )
            entity = "step_entry"
        else:
            row = uow.session.execute(
                select(QcResult).where(QcResult.id == entry_id).with_for_update()
            ).scalar_one_or_none()
            if row is None or row.batch_id != batch.id:
                raise NotFound(f"batch {batch.code} has no QC result Q{entry_id}")
            if field.strip() != "value":
                raise InvalidInput("--field", "a QC result's correctable field is 'value'")
            test = sop.qc_test(row.qc_id)
            parsed = parse_result(test, value)
            old_text = row.value_text or display(row.value_num)
            if isinstance(parsed, str):
                uow.change(
                    row, "value_text", parsed, reason=reason, batch_id=batch.id, action="correct"
                )
                new_text = parsed
            else:
                uow.change(
                    row, "value_num", parsed, reason=reason, batch_id=batch.id, action="correct"
                )
                new_text = display(parsed)
            passed = test.evaluate(parsed)
            if passed != row.passed:
                uow.change(
                    row, "passed", passed, reason=reason, batch_id=batch.id, action="correct"
                )
                if not passed:  # corrected out of specification: investigate like any OOS
                    open_for_oos(uow, batch, test, row)
            entity = "qc_result"
        correction = uow.add(
            Correction(
                batch_id=batch.id,
                entity=entity,
                entity_id=entry_id,
                field=field.strip(),
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


def _check_moved_time(uow: UnitOfWork, batch, row: StepEntry, new) -> None:
    """A corrected work time stays in the past and between the steps before and after it."""
    check_work_time(new, uow.now, "--value")
    done = entries(uow.session, batch.id)
    index = next(i for i, e in enumerate(done) if e.id == row.id)
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


def _text_value(sop, field: str, text: str) -> str:
    """A corrected text value under the rule its field was recorded under."""
    if field == "vessel":
        return check_vessel(sop, text, "--value")
    if field == "location":
        return LOCATION.check(text, "--value")
    return typed_text(text, "--value", what=f"the corrected {field}", one_line=True)


def _step_value(row: StepEntry, sop, field: str, text: str):
    if field == "at":
        new = parse_datetime(text, field="--value")
        return row.performed_at, new, row.performed_at.isoformat(), new.isoformat()
    if field not in row.values or field in ("flags", "vial_numbers", "start", "end"):
        editable = sorted(
            k for k in row.values if k not in ("flags", "vial_numbers", "start", "end")
        ) + ["at"]
        raise InvalidInput(
            "--field",
            f"expected one of {', '.join(editable)} for this {row.kind} entry, got {field!r}",
        )
    step = sop.step(row.kind)
    old = row.values[field]
    if isinstance(old, str):
        new = _text_value(sop, field, text)
        return old, new, old, new
    if isinstance(old, int) and not step.has_param(field):
        raise InvalidInput("--field", f"{field} cannot be corrected; record a new entry")
    p = step.param(field)
    new = units.parse(text, p.measure, field="--value")
    if field not in MEASURED:
        check_range(p, new, "--value")
    return old, new, units.fmt_plain(old, p.measure), units.fmt_plain(new, p.measure)
