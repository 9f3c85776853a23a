"""adverse event follow-up

An adverse-event report's assessment (severity grade, relatedness, action taken, the physician
told and when, who assessed and when) and its closing (who, when, the basis). New nullable
columns only: the reports already open stay open and unassessed.

Revision ID: 3bfa308afe03
Revises: 91032a3b2516
Create Date: 2026-12-02 21:32:17.497045
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '3bfa308afe03'
down_revision: str | None = '91032a3b2516'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('adverse_event_report', schema=None) as batch_op:
        batch_op.add_column(sa.Column('severity_grade', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('relatedness', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))
        batch_op.add_column(sa.Column('action_taken', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True))
        batch_op.add_column(sa.Column('physician_notified', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.add_column(sa.Column('physician_notified_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('assessed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('assessed_by', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('closed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('closed_by', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('closure', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True))
        batch_op.create_foreign_key('fk_adverse_event_report_closed_by', 'app_user', ['closed_by'], ['id'])
        batch_op.create_foreign_key('fk_adverse_event_report_assessed_by', 'app_user', ['assessed_by'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('adverse_event_report', schema=None) as batch_op:
        batch_op.drop_constraint('fk_adverse_event_report_closed_by', type_='foreignkey')
        batch_op.drop_constraint('fk_adverse_event_report_assessed_by', type_='foreignkey')
        batch_op.drop_column('closure')
        batch_op.drop_column('closed_by')
        batch_op.drop_column('closed_at')
        batch_op.drop_column('assessed_by')
        batch_op.drop_column('assessed_at')
        batch_op.drop_column('physician_notified_at')
        batch_op.drop_column('physician_notified')
        batch_op.drop_column('action_taken')
        batch_op.drop_column('relatedness')
        batch_op.drop_column('severity_grade')
