"""No signature binds a record edited outside the program (hostile re-test, issue 15's wave).

A second person's verification signed a QC result whose value had been edited in the
database: the signature bound the forged content and was shown as valid, because signing
writes only the signature row and proved nothing it covers. Signing now proves every row
the signed content is read from, as every write proves the rows it vouches for.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

GMP25 = pytest.mark.requirement("GMP-25")


def _qc_results(db, code: str) -> list[int]:
    with db.engine.connect() as connection:
        return list(
            connection.execute(
                text(
                    "SELECT q.id FROM qc_result q JOIN batch b ON b.id = q.batch_id "
                    "WHERE b.code = :code ORDER BY q.id"
                ),
                {"code": code},
            ).scalars()
        )


def _signatures(db) -> int:
    with db.engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM signature")).scalar_one()


@GMP25
def test_a_verification_of_a_qc_result_edited_in_the_database_is_refused(demo_db, cli):
    intact, forged = _qc_results(demo_db, "FUC-D001")[:2]
    done = cli("--db", demo_db.url, "verify", "FUC-D001", f"Q{intact}", user="sup1")
    assert done.code == 0, done.err  # the door works on an intact result
    with demo_db.engine.begin() as connection:
        connection.execute(
            text("UPDATE qc_result SET value_num = 55, passed = :yes WHERE id = :id"),
            {"id": forged, "yes": True},
        )
    before = _signatures(demo_db)
    refused = cli("--db", demo_db.url, "verify", "FUC-D001", f"Q{forged}", user="sup1")
    assert refused.code == 1, (refused.out, refused.err)
    assert f"qc_result {forged} was edited outside the program" in refused.err
    assert "nothing was written" in refused.err
    assert _signatures(demo_db) == before


@GMP25
def test_a_batch_signature_over_a_record_edited_in_the_database_is_refused(demo_db, cli):
    intact, forged = _qc_results(demo_db, "FUC-D001")[:2]
    with demo_db.engine.begin() as connection:
        connection.execute(
            text("UPDATE qc_result SET method = 'forged' WHERE id = :id"), {"id": forged}
        )
    before = _signatures(demo_db)
    refused = cli(
        "--db", demo_db.url, "sign", "FUC-D001", f"Q{intact}", "--meaning", "reviewed", user="qa1"
    )
    assert refused.code == 1, (refused.out, refused.err)  # the batch's QC results are read
    assert f"qc_result {forged} was edited outside the program" in refused.err
    assert _signatures(demo_db) == before
