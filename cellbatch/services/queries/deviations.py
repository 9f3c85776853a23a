"""Deviations as shown: each batch's deviations with their signatures, and the open ones."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import case, func, select
from sqlmodel import Session

from cellbatch.db.database import Database
from cellbatch.db.tables import Batch, Deviation, QcResult, User
from cellbatch.domain.errors import InvalidInput
from cellbatch.domain.timeparse import iso_utc
from cellbatch.services.batch_access import find_batch
from cellbatch.services.queries.signatures import (
    SignatureView,
    batch_rows,
    ref_of,
    signature_views,
)


@dataclass
class DeviationView:
    """A deviation as shown, with its signatures."""

    id: str
    batch: str
    title: str
    description: str
    classification: str | None
    status: str
    investigation: str | None
    root_cause: str | None
    capa: str | None
    qc_result: str | None
    opened_at: str
    opened_by: str
    closed_at: str | None
    closed_by: str | None
    signatures: list[SignatureView] = field(default_factory=list)
    opened_by_name: str | None = None
    """Printed full name of the user who opened it (``opened_by`` is the user ID)."""
    closed_by_name: str | None = None
    """Printed full name of the QA officer who closed it."""

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON output."""
        return asdict(self)


def deviation_views(
    session: Session, batch: Batch, sigs: list[SignatureView] | None = None
) -> list[DeviationView]:
    """The deviations of one batch, oldest first, with their signatures."""
    sigs = signature_views(session, batch) if sigs is None else sigs
    devs = batch_rows(session, batch).of(Deviation)
    ids = {d.opened_by for d in devs} | {d.closed_by for d in devs if d.closed_by}
    names: dict[int, str] = {}
    full_names: dict[int, str] = {}
    if ids:
        for u in session.execute(select(User).where(User.id.in_(ids))).scalars():
            names[u.id] = u.username
            full_names[u.id] = u.full_name
    return [
        DeviationView(
            id=f"D{d.id}",
            batch=batch.code,
            title=d.title,
            description=d.description,
            classification=d.classification,
            status=d.status,
            investigation=d.investigation,
            root_cause=d.root_cause,
            capa=d.capa,
            qc_result=f"Q{d.qc_result_id}" if d.qc_result_id else None,
            opened_at=iso_utc(d.opened_at),
            opened_by=names.get(d.opened_by, "?"),
            closed_at=iso_utc(d.closed_at),
            closed_by=names.get(d.closed_by) if d.closed_by else None,
            signatures=[s for s in sigs if s.on == ref_of("deviation", d.id)],
            opened_by_name=full_names.get(d.opened_by),
            closed_by_name=full_names.get(d.closed_by) if d.closed_by else None,
        )
        for d in devs
    ]


def list_deviations(
    db: Database, code: str | None = None, status: str | None = None
) -> list[DeviationView]:
    """Deviations of one batch or of all batches, optionally only open or closed ones."""
    if status is not None and status not in ("open", "closed"):
        raise InvalidInput("--status", f"expected open or closed, got {status!r}")
    with db.session() as session:
        if code is not None:
            batches = [find_batch(session, code)]
        else:
            batch_ids = session.execute(select(Deviation.batch_id).distinct()).scalars()
            batches = sorted((session.get(Batch, i) for i in batch_ids), key=lambda b: b.id)
        out = [v for b in batches for v in deviation_views(session, b)]
    if status is not None:
        out = [v for v in out if v.status == status]
    return out


DEVIATION_LIST = 500
"""How many deviations the list of every batch's deviations shows (it counts them all)."""


@dataclass(frozen=True)
class DeviationLine:
    """One line of the list of every batch's deviations (its signatures are the review's)."""

    id: str
    batch: str
    status: str
    classification: str | None
    title: str
    opened_at: str
    opened_by: str


@dataclass(frozen=True)
class DeviationList:
    """The first :data:`DEVIATION_LIST` deviations of every batch, and how many there are."""

    lines: tuple[DeviationLine, ...]
    total: int
    open: int


def deviation_list(db: Database, limit: int = DEVIATION_LIST) -> DeviationList:
    """Every batch's deviations, open ones first, oldest first, at most ``limit`` lines.

    Three statements whatever the number of deviations: the lines (with their batch's code
    and the opener's user ID) and the two counts. No signature validity is computed (the
    list shows none), so thirty years of deviations list as fast as the demo's.
    """
    opener = User.__table__.alias("opener")  # type: ignore[attr-defined]
    with db.session() as session:
        rows = session.execute(
            select(
                Deviation.id,
                Batch.code,
                Deviation.status,
                Deviation.classification,
                Deviation.title,
                Deviation.opened_at,
                opener.c.username,
            )
            .join(Batch, Batch.id == Deviation.batch_id)
            .outerjoin(opener, opener.c.id == Deviation.opened_by)
            .order_by(
                case((Deviation.status == "open", 0), else_=1),
                Deviation.opened_at,
                Deviation.id,
            )
            .limit(limit)
        ).all()
        total = session.execute(select(func.count()).select_from(Deviation)).scalar_one()
        still_open = session.execute(
            select(func.count()).select_from(Deviation).where(Deviation.status == "open")
        ).scalar_one()
    return DeviationList(
        tuple(
            DeviationLine(f"D{r[0]}", r[1], r[2], r[3], r[4], iso_utc(r[5]), r[6] if r[6] else "?")
            for r in rows
        ),
        total,
        still_open,
    )


def oos_results(session: Session, batch: Batch) -> list[QcResult]:
    """The batch's out-of-specification results, oldest first."""
    results = session.execute(
        select(QcResult).where(QcResult.batch_id == batch.id).order_by(QcResult.id)
    ).scalars()
    return [q for q in results if not q.passed]
