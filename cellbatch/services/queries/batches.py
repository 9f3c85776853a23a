"""Finding batches: the batch list, counts and a batch's id by its code."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select, tuple_

from cellbatch.db.database import Database
from cellbatch.db.tables import Bag, Batch, SopVersion, TissueLot
from cellbatch.domain.errors import InvalidInput
from cellbatch.domain.refs import count_option
from cellbatch.domain.timeparse import iso_utc
from cellbatch.services.batch_access import (
    find_batch,
)


@dataclass(frozen=True)
class BatchSummary:
    """One line of the batch list."""

    code: str
    kind: str
    status: str
    sop: str
    started_at: str
    parent: str | None
    recipient: str | None

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON output."""
        return asdict(self)


def list_batches(
    db: Database,
    *,
    offset: int = 0,
    limit: int | None = None,
    status: str | None = None,
    after: str | None = None,
) -> list[BatchSummary]:
    """Batches, newest first, paged.

    ``after`` (a batch's code, the last of the previous page) starts the page after that
    batch: read through the index on ``(started_at, id)``, the last page of thirty years of
    batches costs what the first does, where ``offset`` walks every batch it skips.
    """
    offset = count_option(offset, "--offset")
    limit = count_option(limit, "--limit")
    parent = Batch.__table__.alias("parent")  # type: ignore[attr-defined]
    with db.session() as session:
        since = None
        if after is not None:
            since = session.execute(
                select(Batch.started_at, Batch.id).where(Batch.code == after.strip().upper())
            ).one_or_none()
            if since is None:
                raise InvalidInput(
                    "--after",
                    "expected the code of a batch (the last of the previous page), "
                    f"got {after.strip()[:40]!r}: no batch has it",
                )
        b = Batch.__table__  # type: ignore[attr-defined]
        query = (  # the columns shown, as plain rows: no ORM object per batch listed
            select(
                b.c.code,
                b.c.kind,
                b.c.status,
                b.c.started_at,
                b.c.recipient_id,
                SopVersion.sop_id,
                SopVersion.version,
                parent.c.code.label("parent_code"),
            )
            .select_from(b)
            .join(SopVersion, SopVersion.id == b.c.sop_version_id)
            .outerjoin(parent, parent.c.id == b.c.parent_batch_id)
            .order_by(b.c.started_at.desc(), b.c.id.desc())
            .offset(offset)
        )
        if status:
            query = query.where(b.c.status == status)
        if since is not None:
            query = query.where(tuple_(b.c.started_at, b.c.id) < tuple_(*since))
        if limit is not None:
            query = query.limit(limit)
        return [
            BatchSummary(
                r.code,
                r.kind,
                r.status,
                f"{r.sop_id} v{r.version}",
                iso_utc(r.started_at),
                r.parent_code,
                r.recipient_id,
            )
            for r in session.execute(query)
        ]


def count_batches(db: Database) -> int:
    """How many batches there are."""
    with db.session() as session:
        return session.execute(select(func.count()).select_from(Batch)).scalar_one()


def batch_id_of(db: Database, code: str) -> int:
    """The database id of a batch, by its code."""
    with db.session() as session:
        return find_batch(session, code).id


def batches_of_din(db: Database, din: str) -> list[str]:
    """The batches a scanned DIN names: the dose batches of its bags, else its donation's banks.

    A bag's DIN names the dose batch filled into it; a donation's DIN (on the tissue lot and the
    bank's vials) names the banks expanded from it.
    """
    with db.session() as session:
        doses = session.execute(
            select(Batch.code).join(Bag, Bag.batch_id == Batch.id).where(Bag.din == din)
        ).scalars()
        found = list(dict.fromkeys(doses))
        if found:
            return found
        banks = session.execute(
            select(Batch.code)
            .join(TissueLot, TissueLot.id == Batch.tissue_lot_id)
            .where(TissueLot.din == din)
            .order_by(Batch.id)
        ).scalars()
        return list(banks)
