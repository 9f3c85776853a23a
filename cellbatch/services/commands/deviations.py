"""Deviations: opened for an out-of-spec result or by hand, investigated, closed by QA.

An open deviation blocks release. A deviation the program opens on a released batch (new
donor information, a failing late result, a recall) is investigated and closed like any
other, although the batch record itself stays locked. Closing needs the classification, the
investigation, the root cause and the CAPA, and QA's electronic signature (meaning
``approved``) over the deviation as closed, by a QA officer who wrote none of its
investigation, root cause or CAPA (under any of their accounts). A closed deviation is
never edited again.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session

from cellbatch import units
from cellbatch.db.database import Database
from cellbatch.db.tables import Batch, Deviation, QcResult, ReleaseDecision
from cellbatch.domain.errors import InvalidInput, NotFound, PermissionDenied, RuleViolation
from cellbatch.domain.refs import record_number
from cellbatch.domain.sop import QcTest
from cellbatch.domain.text import MAX_TEXT, typed_text
from cellbatch.domain.timeparse import as_utc
from cellbatch.domain.users import RECORDING_ROLES, Actor, Role
from cellbatch.services.auth import reauthenticate
from cellbatch.services.batch_access import ensure_open, find_batch
from cellbatch.services.commands.signatures import add_signature
from cellbatch.services.queries.involvement import (
    INVESTIGATION_FIELDS,
    deviation_investigators,
    same_person,
)
from cellbatch.services.unit_of_work import UnitOfWork

CLASSIFICATIONS = ("minor", "major", "critical")
"""How serious a deviation is."""

TEXT_FIELDS = INVESTIGATION_FIELDS
"""The free-text parts of the investigation (whoever writes one is an investigator)."""

DEVIATION_ROLES = (*RECORDING_ROLES, Role.QA)
"""Who opens and investigates deviations; only QA closes them."""


def parse_deviation_ref(ref: str) -> int:
    """``D3``, ``DEV-3`` or ``3`` as the deviation's id."""
    found = record_number(ref, ("D", "DEV-", ""), "deviation")
    if found is None:
        raise InvalidInput("DEVIATION-ID", f"expected D<number>, got {ref.strip()[:20]!r}")
    return found[1]


def _clean(value: str | None, name: str, *, one_line: bool = False) -> str | None:
    if value is None:
        return None
    return typed_text(value, name, what="some text", one_line=one_line)


def _classification(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().lower()
    if value not in CLASSIFICATIONS:
        raise InvalidInput(
            "--classification", f"expected one of {', '.join(CLASSIFICATIONS)}, got {value!r}"
        )
    return value


def open_for_oos(
    uow: UnitOfWork, batch: Batch, test: QcTest, result: QcResult, *, concerns: str | None = None
) -> Deviation:
    """Open a deviation for an out-of-spec result, in the unit of work that recorded it.

    A late result (after release: ``concerns`` names the recipient) says so in its title.
    """
    if result.value_text is not None:
        shown = result.value_text
    elif test.measure is not None and result.value_num is not None:
        shown = units.fmt(result.value_num, test.measure)
    else:
        shown = str(result.value_num)
    retest = f", a retest of Q{result.retest_of_id}" if result.retest_of_id else ""
    return open_automatic(
        uow,
        batch,
        title=(
            f"Late result out of specification: {result.name}; {concerns}"
            if concerns
            else f"Out of specification: {result.name}"
        ),
        description=(
            f"{result.name} ({result.stage}) gave {shown} against the specification "
            f"{result.spec}: Q{result.id}{retest}. Opened automatically when the result "
            "was recorded."
            + (f" A late result, after release: it concerns {concerns}." if concerns else "")
        ),
        reason=f"out-of-specification result Q{result.id}",
        qc_result_id=result.id,
    )


def open_automatic(
    uow: UnitOfWork,
    batch: Batch,
    *,
    title: str,
    description: str,
    reason: str,
    qc_result_id: int | None = None,
) -> Deviation:
    """Open a deviation the program raises itself, in the unit of work of what caused it.

    Also on a released (locked) batch: new information after release (a reactive donor
    result, a failing late result, a recall) is investigated as a post-release deviation.
    """
    return uow.add(
        Deviation(
            batch_id=batch.id,
            title=title[:200],
            description=description[:MAX_TEXT],
            status="open",
            qc_result_id=qc_result_id,
            opened_at=uow.now,
            opened_by=uow.actor.id,  # type: ignore[union-attr]
        ),
        batch_id=batch.id,
        reason=reason,
    )


def _opened_after_lock(session: Session, dev: Deviation, batch: Batch) -> bool:
    """Whether a deviation of a locked batch was opened after the decision that locked it."""
    decided = session.execute(
        select(ReleaseDecision.decided_at).where(
            ReleaseDecision.batch_id == batch.id,
            ReleaseDecision.decision.in_(("release", "reject")),
        )
    ).scalar_one_or_none()
    return decided is not None and as_utc(dev.opened_at) >= as_utc(decided)


def open_deviation(
    db: Database,
    actor: Actor,
    code: str,
    *,
    title: str,
    description: str,
    classification: str | None = None,
    qc_result: str | None = None,
) -> int:
    """Open a deviation on a batch by hand; returns its id (shown as D<id>).

    ``qc_result`` (``Q<n>``) names the out-of-spec result it covers, e.g. one that became
    out of spec through a correction.
    """
    actor.require(*DEVIATION_ROLES, action="open deviations")
    title_ = _clean(title, "--title", one_line=True)
    text = _clean(description, "--description")
    cls = _classification(classification)
    with UnitOfWork(db, actor) as uow:
        batch = find_batch(uow.session, code, for_update=True)
        ensure_open(batch)
        result_id = None
        if qc_result is not None:
            result_id = _result_of(uow.session, batch, qc_result)
        dev = uow.add(
            Deviation(
                batch_id=batch.id,
                title=title_,
                description=text,
                classification=cls,
                status="open",
                qc_result_id=result_id,
                opened_at=uow.now,
                opened_by=actor.id,
            ),
            batch_id=batch.id,
            reason="deviation opened",
        )
        uow.commit()
        return dev.id


def _result_of(session: Session, batch: Batch, ref: str) -> int:
    found = record_number(ref, ("Q",), "QC result")
    if found is None:
        raise InvalidInput("--result", f"expected Q<number>, got {ref.strip()[:20]!r}")
    text = f"Q{found[1]}"
    result = session.get(QcResult, found[1])
    if result is None or result.batch_id != batch.id:
        raise NotFound(f"batch {batch.code} has no QC result {text}")
    if result.passed:
        raise RuleViolation(f"{text} is within specification: no deviation is needed for it")
    return result.id


def _locked_deviation(uow: UnitOfWork, dev_id: int) -> tuple[Deviation, Batch]:
    dev = uow.session.execute(
        select(Deviation).where(Deviation.id == dev_id).with_for_update()
    ).scalar_one_or_none()
    if dev is None:
        raise NotFound(f"no deviation D{dev_id}")
    batch = uow.session.execute(
        select(Batch).where(Batch.id == dev.batch_id).with_for_update()
    ).scalar_one()
    if not _opened_after_lock(uow.session, dev, batch):  # a post-release deviation stays open
        ensure_open(batch)
    if dev.status == "closed":
        raise RuleViolation(f"deviation D{dev.id} is closed: it cannot be changed any more")
    return dev, batch


def update_deviation(
    db: Database,
    actor: Actor,
    ref: str,
    *,
    classification: str | None = None,
    investigation: str | None = None,
    root_cause: str | None = None,
    capa: str | None = None,
    reason: str | None = None,
) -> str:
    """Record classification, investigation, root cause or CAPA; returns the deviation ref.

    Setting a part for the first time needs no reason; changing one already written does.
    """
    actor.require(*DEVIATION_ROLES, action="update deviations")
    dev_id = parse_deviation_ref(ref)
    new = {
        "classification": _classification(classification),
        "investigation": _clean(investigation, "--investigation"),
        "root_cause": _clean(root_cause, "--root-cause"),
        "capa": _clean(capa, "--capa"),
    }
    new = {k: v for k, v in new.items() if v is not None}
    if not new:
        raise InvalidInput(
            "--classification",
            "expected at least one of --classification, --investigation, --root-cause, --capa",
        )
    why = (
        typed_text(reason, "--reason", what="why it changes") if reason and reason.strip() else None
    )
    with UnitOfWork(db, actor) as uow:
        dev, batch = _locked_deviation(uow, dev_id)
        for name, value in new.items():
            old = getattr(dev, name)
            if old == value:
                continue
            if old is not None and why is None:
                raise InvalidInput(
                    "--reason",
                    f"D{dev.id} already has a {name.replace('_', ' ')}: say why it changes",
                )
            uow.change(
                dev,
                name,
                value,
                reason=why or f"{name.replace('_', ' ')} recorded",
                batch_id=batch.id,
            )
        uow.commit()
        return f"D{dev.id}"


def close_deviation(
    db: Database, username: str, password: str, ref: str, *, reason: str | None = None
) -> int:
    """QA closes a fully investigated deviation with an ``approved`` signature; returns its id."""
    dev_id = parse_deviation_ref(ref)
    why = (
        typed_text(reason, "--reason", what="the basis of the closure")
        if reason is not None
        else "investigation complete, CAPA agreed"
    )
    signer = reauthenticate(db, username, password)
    signer.require(Role.QA, action="close deviations")
    with UnitOfWork(db, signer) as uow:
        dev, batch = _locked_deviation(uow, dev_id)
        missing = [
            name.replace("_", " ")
            for name in ("classification", *TEXT_FIELDS)
            if not getattr(dev, name)
        ]
        if missing:
            raise RuleViolation(
                f"D{dev.id} cannot be closed before its {', '.join(missing)} "
                "is recorded (cellbatch deviation update)"
            )
        if deviation_investigators(uow.session, dev.id) & same_person(uow.session, signer.id):
            raise PermissionDenied(
                f"{signer.username} investigated D{dev.id}: the deviation is closed by another "
                "QA officer, who did not write its investigation, root cause or CAPA"
            )
        uow.change(dev, "closed_at", uow.now, reason=why, batch_id=batch.id, action="close")
        uow.change(dev, "closed_by", signer.id, reason=why, batch_id=batch.id, action="close")
        uow.change(dev, "status", "closed", reason=why, batch_id=batch.id, action="close")
        add_signature(uow, signer, batch, "deviation", dev.id, "approved")
        uow.commit()
        return dev.id
