"""bag receipt and transport logger

A bag's receipt on the ward (the container's condition on arrival, the temperature in
transit: the logger's readings or one reading, an excursion) and the logger packed at its
issue. New nullable columns of bag_custody only: no existing row changes.

Revision ID: fa2db117e67f
Revises: 5be1c0ad7e12
Create Date: 2026-12-02 21:45:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = 'fa2db117e67f'
down_revision: str | None = '5be1c0ad7e12'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('bag_custody', schema=None) as batch_op:
        batch_op.add_column(sa.Column('logger_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
        batch_op.add_column(sa.Column('condition', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True))
        batch_op.add_column(sa.Column('readings', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('temperature_min_c', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('temperature_max_c', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('excursion', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('bag_custody', schema=None) as batch_op:
        batch_op.drop_column('excursion')
        batch_op.drop_column('temperature_max_c')
        batch_op.drop_column('temperature_min_c')
        batch_op.drop_column('readings')
        batch_op.drop_column('condition')
        batch_op.drop_column('logger_id')
