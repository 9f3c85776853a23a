"""batch parent index

The batch screen of a bank lists the dose batches made from it (``parent_batch_id``); at
thirty years' scale (issue 15) that read every batch (about 9 ms for 50 000 on SQLite, a
sequential scan on PostgreSQL). An index only: no row changes, nothing to audit.

Revision ID: 91032a3b2516
Revises: fa2db117e67f
Create Date: 2026-12-02 21:35:28.698489
"""
from collections.abc import Sequence

from alembic import op


revision: str = '91032a3b2516'
down_revision: str | None = 'fa2db117e67f'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('batch', schema=None) as batch_op:
        batch_op.create_index('ix_batch_parent_batch_id_id', ['parent_batch_id', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('batch', schema=None) as batch_op:
        batch_op.drop_index('ix_batch_parent_batch_id_id')
