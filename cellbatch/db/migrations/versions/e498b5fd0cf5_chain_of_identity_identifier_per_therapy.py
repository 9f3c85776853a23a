"""chain of identity identifier per therapy

Each treatment plan (a recipient's therapy) carries its ISBT 128 chain-of-identity identifier
(Data Structure 040), unique. Plans made before this revision have none (the column is
nullable); every plan made from now on is given one.

Revision ID: e498b5fd0cf5
Revises: 825a3578b48f
Create Date: 2026-12-02 14:18:05.107596
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = 'e498b5fd0cf5'
down_revision: str | None = '825a3578b48f'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # plain ALTERs, not a batch: a batch would rebuild treatment_plan, which planned_infusion
    # references (SQLite refuses to drop it while foreign keys are enforced)
    op.add_column(
        'treatment_plan',
        sa.Column('coi', sqlmodel.sql.sqltypes.AutoString(length=17), nullable=True),
    )
    op.create_index('ux_treatment_plan_coi', 'treatment_plan', ['coi'], unique=True)


def downgrade() -> None:
    op.drop_index('ux_treatment_plan_coi', table_name='treatment_plan')
    op.drop_column('treatment_plan', 'coi')
