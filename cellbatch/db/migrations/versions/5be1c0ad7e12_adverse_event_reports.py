"""adverse event reports

A report that a recipient may have been harmed (issue 12: a failing result after infusion),
linked to the recipient, the batch and the result. New table only: no existing row changes.

Revision ID: 5be1c0ad7e12
Revises: 3c1f0a7eb949
Create Date: 2026-12-02 17:45:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '5be1c0ad7e12'
down_revision: str | None = '3c1f0a7eb949'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('adverse_event_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recipient_id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('qc_result_id', sa.Integer(), nullable=True),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('opened_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('opened_by', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.id'], ),
    sa.ForeignKeyConstraint(['opened_by'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['qc_result_id'], ['qc_result.id'], ),
    sa.ForeignKeyConstraint(['recipient_id'], ['recipient.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('adverse_event_report', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_adverse_event_report_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_adverse_event_report_recipient_id'), ['recipient_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('adverse_event_report', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_adverse_event_report_recipient_id'))
        batch_op.drop_index(batch_op.f('ix_adverse_event_report_batch_id'))

    op.drop_table('adverse_event_report')
