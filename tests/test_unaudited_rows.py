"""The dose_attempt row a dose start writes (issue 12: a dose may be made again for an
infusion not given) once refused the demo's first dose start ("dose_attempt 1 has no audit
entry"): the unit of work proves only rows of audited tables before a write, and dose_attempt
is one of them, written with its audit entry, so `audit verify` vouches for it."""

from __future__ import annotations

from sqlalchemy import select

from cellbatch.db.tables import AUDITED_TABLES, Batch, DoseAttempt
from cellbatch.services.queries.audit_verify import verify_trail


def test_a_dose_start_writes_its_attempt_and_the_trail_vouches_for_it(demo_db):
    assert AUDITED_TABLES["dose_attempt"] is DoseAttempt
    with demo_db.session() as session:
        attempts = session.execute(
            select(Batch.code, DoseAttempt.attempt).join(Batch, Batch.id == DoseAttempt.batch_id)
        ).all()
    assert ("EASC-D001", 1) in attempts
    report = verify_trail(demo_db)
    assert report.ok, report.problems
