"""dose attempt replaces the dose slot index

A dose batch may be started again for an infusion whose dose was not given (its bags
discarded or not infused, docs/clinic.md), so "one dose batch per recipient and infusion
unless rejected" (the partial index ``ux_batch_dose_slot``) no longer holds. The services
refuse a second dose that may still be given under the write lock; the database holds
"one start per attempt": each new dose batch gets a ``dose_attempt`` row numbered one more
than the batches of that infusion before it, unique per recipient and infusion. A new table
and an index dropped: no existing row changes (dose batches started before have no row; the
attempt number counts batches, not rows).

Revision ID: 07592357ec36
Revises: 5a7e1c2d9b40
Create Date: 2026-12-03 07:40:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '07592357ec36'
down_revision: str | None = '5a7e1c2d9b40'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('dose_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('recipient_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('infusion_number', sa.Integer(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('dose_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dose_attempt_batch_id'), ['batch_id'], unique=True)
        batch_op.create_index(
            'ux_dose_attempt', ['recipient_id', 'infusion_number', 'attempt'], unique=True
        )
    # a plain DROP INDEX, not a batch: a batch would rebuild the batch table
    op.drop_index('ux_batch_dose_slot', table_name='batch')


def downgrade() -> None:
    where = sa.text("status <> 'rejected'")
    op.create_index(
        'ux_batch_dose_slot', 'batch', ['recipient_id', 'infusion_number'], unique=True,
        sqlite_where=where, postgresql_where=where,
    )
    with op.batch_alter_table('dose_attempt', schema=None) as batch_op:
        batch_op.drop_index('ux_dose_attempt')
        batch_op.drop_index(batch_op.f('ix_dose_attempt_batch_id'))
    op.drop_table('dose_attempt')
