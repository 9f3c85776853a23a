"""One read service per screen: the batch screen and the review screen, each in one request.

Each gathers what its screen shows in a bounded number of statements, whatever the number
of batches, entries and signatures, with the validity of the batch's signatures computed
once for the whole screen (:func:`~cellbatch.services.queries.signatures.remember_signatures`).
The home screen's service is :mod:`cellbatch.services.queries.home`.
"""

from __future__ import annotations

from dataclasses import dataclass

from cellbatch.db.database import Database
from cellbatch.domain.sop import Sop
from cellbatch.domain.users import Actor
from cellbatch.services.batch_access import find_batch
from cellbatch.services.queries.audit import AuditRecord, count_entries, list_entries
from cellbatch.services.queries.batch_view import batch_view_of
from cellbatch.services.queries.batch_view_model import BatchView
from cellbatch.services.queries.involvement import involvement
from cellbatch.services.queries.readable_audit import ReadableEntry, readable_trail
from cellbatch.services.queries.review import review_of
from cellbatch.services.queries.review_model import Review
from cellbatch.services.queries.signatures import remember_signatures
from cellbatch.services.queries.sops import sop_of
from cellbatch.services.queries.verification import EntryVerification, entry_verifications


@dataclass(frozen=True)
class BatchScreenData:
    """What the batch screen shows: the read model, its pinned SOP and a page of its audit."""

    view: BatchView
    sop: Sop
    """The SOP version the batch is pinned to, from the database (never from disk)."""
    audit: tuple[AuditRecord, ...]
    audit_readable: tuple[ReadableEntry, ...]
    """The same page in the words of the batch record (values with their units, no row ids)."""
    audit_total: int

    @property
    def steps(self) -> list[tuple[str, str]]:
        """The SOP's steps as (kind, title), in order."""
        return [(s.kind, s.title) for s in self.sop.steps]


@dataclass(frozen=True)
class ReviewScreenData:
    """What the review screen shows: the review, the verification queue, what bars the viewer."""

    review: Review
    view: BatchView
    verifications: tuple[EntryVerification, ...]
    barred: tuple[str, ...]
    """What the viewer (a QA officer) did on the batch, which bars them from deciding."""


def batch_screen(db: Database, code: str, *, audit_offset: int, audit_page: int) -> BatchScreenData:
    """The batch screen of ``code`` with one page of its audit trail."""
    with db.session() as session:
        remember_signatures(session)
        batch = find_batch(session, code)
        view = batch_view_of(session, batch)
        sop = sop_of(session, batch)
        batch_id = batch.id
    audit = list_entries(db, batch_id=batch_id, offset=audit_offset, limit=audit_page)
    with db.session() as session:
        readable = readable_trail(session, audit, sop)
    return BatchScreenData(
        view=view,
        sop=sop,
        audit=tuple(audit),
        audit_readable=tuple(readable),
        audit_total=count_entries(db, batch_id=batch_id),
    )


def review_screen(db: Database, code: str, actor: Actor | None) -> ReviewScreenData:
    """The review screen of ``code`` as ``actor`` sees it."""
    with db.session() as session:
        remember_signatures(session)
        batch = find_batch(session, code)
        barred: list[str] = []
        if actor is not None and actor.role.value == "qa":
            barred = involvement(session, batch, actor.id)
        return ReviewScreenData(
            review=review_of(session, batch),
            view=batch_view_of(session, batch),
            verifications=tuple(entry_verifications(session, batch)),
            barred=tuple(barred),
        )
