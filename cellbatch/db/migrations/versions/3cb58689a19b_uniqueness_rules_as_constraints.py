"""uniqueness rules as constraints

The process's uniqueness rules become unique indexes, so the database holds them even if
two terminals write at once: one dose batch per recipient and infusion unless rejected,
one vial in stock per storage position, one releasing or rejecting decision per batch,
one bag per number in a batch, one user ID whatever its case.

A database that already breaks one of them (made by an earlier version while two
terminals raced) is not upgraded: the message names the records, nothing is changed.

Revision ID: 3cb58689a19b
Revises: 4a14065edc87
Create Date: 2026-12-02 07:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cellbatch.domain.errors import RuleViolation

revision: str = '3cb58689a19b'
down_revision: str | None = '4a14065edc87'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DOSE_SLOT = "status <> 'rejected'"
IN_STOCK = "thaw_entry_id IS NULL"
FINAL = "decision IN ('release', 'reject')"

# (index, what the rule is, query listing the records that break it, one line per group)
DUPLICATES = (
    (
        "ux_batch_dose_slot",
        "one dose batch per recipient and infusion unless rejected",
        f"SELECT recipient_id, infusion_number, code FROM batch WHERE recipient_id IS NOT NULL "
        f"AND {DOSE_SLOT} AND (recipient_id, infusion_number) IN (SELECT recipient_id, "
        f"infusion_number FROM batch WHERE {DOSE_SLOT} GROUP BY recipient_id, infusion_number "
        "HAVING COUNT(*) > 1) ORDER BY recipient_id, infusion_number, code",
        "recipient {0}, infusion {1}: dose batch {2}",
    ),
    (
        "ux_vial_position_in_stock",
        "one vial in stock per storage position",
        f"SELECT v.location, b.code, v.number FROM vial v JOIN batch b ON b.id = v.batch_id "
        f"WHERE v.{IN_STOCK} AND lower(v.location) IN (SELECT lower(location) FROM vial "
        f"WHERE {IN_STOCK} GROUP BY lower(location) HAVING COUNT(*) > 1) "
        "ORDER BY lower(v.location), b.code, v.number",
        "{0}: vial {2} of {1}",
    ),
    (
        "ux_release_decision_final",
        "one release or rejection per batch",
        f"SELECT b.code, d.decision, d.id FROM release_decision d JOIN batch b ON "
        f"b.id = d.batch_id WHERE d.{FINAL} AND d.batch_id IN (SELECT batch_id FROM "
        f"release_decision WHERE {FINAL} GROUP BY batch_id HAVING COUNT(*) > 1) ORDER BY d.id",
        "{0}: {1} (decision {2})",
    ),
    (
        "ux_bag_number",
        "one bag per number in a batch",
        "SELECT b.code, g.number, g.product_code FROM bag g JOIN batch b ON b.id = g.batch_id "
        "WHERE (g.batch_id, g.number) IN (SELECT batch_id, number FROM bag GROUP BY batch_id, "
        "number HAVING COUNT(*) > 1) ORDER BY b.code, g.number",
        "{0} bag {1} ({2})",
    ),
    (
        "ux_app_user_username_folded",
        "one user ID whatever its case",
        "SELECT username FROM app_user WHERE lower(username) IN (SELECT lower(username) FROM "
        "app_user GROUP BY lower(username) HAVING COUNT(*) > 1) ORDER BY username",
        "user ID {0}",
    ),
)


def _refuse_broken_rules() -> None:
    connection = op.get_bind()
    for _index, rule, query, line in DUPLICATES:
        rows = connection.execute(sa.text(query)).all()
        if rows:
            listed = "; ".join(line.format(*row) for row in rows[:10])
            more = f" (and {len(rows) - 10} more)" if len(rows) > 10 else ""
            raise RuleViolation(
                f"cannot upgrade the database: its records break the rule '{rule}' "
                f"({listed}{more}), most likely written by two terminals at once before "
                "this version held the rule in the database. Nothing was changed. Open a "
                "deviation, resolve the records as docs/concurrency.md describes, then run "
                "`cellbatch init` again"
            )


INDEXES = (  # name, table, columns, partial condition
    ("ux_batch_dose_slot", "batch", ["recipient_id", "infusion_number"], DOSE_SLOT),
    ("ux_vial_position_in_stock", "vial", [sa.text("lower(location)")], IN_STOCK),
    ("ux_release_decision_final", "release_decision", ["batch_id"], FINAL),
    ("ux_bag_number", "bag", ["batch_id", "number"], None),
    ("ux_app_user_username_folded", "app_user", [sa.text("lower(username)")], None),
)


def upgrade() -> None:
    _refuse_broken_rules()
    for name, table, columns, where in INDEXES:
        partial = {} if where is None else {
            "sqlite_where": sa.text(where), "postgresql_where": sa.text(where)
        }
        op.create_index(name, table, columns, unique=True, **partial)


def downgrade() -> None:
    for name, table, _columns, _where in reversed(INDEXES):
        op.drop_index(name, table_name=table)
