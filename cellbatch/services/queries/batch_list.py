"""The batch list: every batch, newest first, a page at a time.

Read through the Core tables (:mod:`cellbatch.db.core_tables`): ``cellbatch batch list``
loads neither the ORM nor the table classes (docs/start-up.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select, tuple_

from cellbatch.db import core_tables
from cellbatch.db.database import Database
from cellbatch.domain.errors import InvalidInput
from cellbatch.domain.refs import count_option
from cellbatch.domain.timeparse import iso_utc


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
    b, sop = core_tables.batch, core_tables.sop_version
    parent = b.alias("parent")
    with db.engine.connect() as connection:
        since = None
        if after is not None:
            since = connection.execute(
                select(b.c.started_at, b.c.id).where(b.c.code == after.strip().upper())
            ).one_or_none()
            if since is None:
                raise InvalidInput(
                    "--after",
                    "expected the code of a batch (the last of the previous page), "
                    f"got {after.strip()[:40]!r}: no batch has it",
                )
        query = (  # the columns shown, as plain rows: no ORM object per batch listed
            select(
                b.c.code,
                b.c.kind,
                b.c.status,
                b.c.started_at,
                b.c.recipient_id,
                sop.c.sop_id,
                sop.c.version,
                parent.c.code.label("parent_code"),
            )
            .select_from(b)
            .join(sop, sop.c.id == b.c.sop_version_id)
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
            for r in connection.execute(query)
        ]
