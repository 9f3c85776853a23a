"""A row of a table the audit chain does not vouch for (dose_attempt) is written by a unit of
work without proof: the proof that no record was edited outside the program applies to the
audited tables only (it refused the demo's first dose start: "dose_attempt 1 has no audit
entry")."""

from __future__ import annotations

from sqlalchemy import select

from cellbatch.db.tables import AUDITED_TABLES, Batch, DoseAttempt


def test_a_dose_start_writes_its_attempt_though_the_table_is_not_audited(demo_db):
    assert "dose_attempt" not in AUDITED_TABLES
    with demo_db.session() as session:
        attempts = session.execute(
            select(Batch.code, DoseAttempt.attempt).join(Batch, Batch.id == DoseAttempt.batch_id)
        ).all()
    assert ("EASC-D001", 1) in attempts
