"""one issue and one receipt per bag

Partial unique indexes on bag_custody: the services refuse a second issue or receipt under
the write lock; the database holds the rule too (cellbatch.services.uniqueness). Indexes
only: no row changes (a database with two issues of one bag would be refused here).

Revision ID: 1e8672c51e38
Revises: 3bfa308afe03
Create Date: 2026-12-02 22:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '1e8672c51e38'
down_revision: str | None = '3bfa308afe03'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('bag_custody', schema=None) as batch_op:
        for kind in ('issue', 'receipt'):
            where = sa.text(f"kind = '{kind}'")
            batch_op.create_index(
                f'ux_bag_custody_{kind}', ['bag_id'], unique=True,
                sqlite_where=where, postgresql_where=where,
            )


def downgrade() -> None:
    with op.batch_alter_table('bag_custody', schema=None) as batch_op:
        batch_op.drop_index('ux_bag_custody_receipt')
        batch_op.drop_index('ux_bag_custody_issue')
