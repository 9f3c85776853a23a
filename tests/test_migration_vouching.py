"""A migration that adds a column vouches for every existing row again (a new column changes
each row's content), but only for a row its last audit entry still vouches for: a row edited
in the database before the upgrade stays named by ``audit verify`` after it (a migration
never launders an edit)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from cellbatch.db import migrate
from cellbatch.services.commands.recall import recall
from cellbatch.services.queries.audit import verify_trail

GMP01 = pytest.mark.requirement("GMP-01")
GMP25 = pytest.mark.requirement("GMP-25")

BEFORE = "c89cce8dbb38-1"
"""The schema before the migration that adds product_hold.origin and the report's recall."""


def _recalled_then_downgraded(db) -> None:
    recall(db, "qa1", "demo-qa1-pass", "bank", "EASC-B001", reason="supplier notice")
    migrate.downgrade(db.engine, BEFORE)


@GMP01
@GMP25
@pytest.mark.parametrize(
    ("table", "edit"),
    [
        ("product_hold", "UPDATE product_hold SET reason = reason || ' (withdrawn)'"),
        (
            "adverse_event_report",
            "UPDATE adverse_event_report SET description = 'nothing to report'",
        ),
    ],
)
def test_a_row_edited_before_an_upgrade_is_still_named_after_it(demo_db, table, edit):
    _recalled_then_downgraded(demo_db)
    with demo_db.engine.begin() as conn:
        conn.execute(text(edit))
    assert demo_db.ensure_schema(upgrade=True) == "upgraded"
    report = verify_trail(demo_db)
    assert not report.ok
    assert any(f"{table} 1 was edited outside the program" in p for p in report.problems), (
        report.problems
    )


@GMP01
def test_rows_untouched_before_an_upgrade_are_vouched_for_after_it(demo_db):
    _recalled_then_downgraded(demo_db)
    assert demo_db.ensure_schema(upgrade=True) == "upgraded"
    report = verify_trail(demo_db)
    assert report.ok, report.problems
    with demo_db.engine.connect() as conn:
        vouched = conn.execute(
            text(
                "SELECT entity, field FROM audit_entry WHERE username = 'system' "
                "AND action = 'update' AND entity IN ('product_hold', 'adverse_event_report') "
                "ORDER BY seq"
            )
        ).all()
    assert [tuple(v) for v in vouched] == [
        ("product_hold", "origin"),
        ("adverse_event_report", "hold_id"),
        ("adverse_event_report", "bag_id"),
    ]
