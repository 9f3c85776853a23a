"""label content version and bedside CoI rule

Each printed label records the version of its content (``content_version``): labels printed
before this revision are version 1 (a bag label without the chain-of-identity identifier),
and the archive rebuilds each label at its own version. Each bedside check records which
chain-of-identity rule it was made under (``coi_rule``); checks made before this revision
have none recorded.

A new column changes every existing row's canonical content, so every existing printed label
and bedside check gets an audit entry (by the system) vouching for its new content.

Revision ID: d2d35b94edfe
Revises: 1e8672c51e38
Create Date: 2026-12-02 22:05:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

from cellbatch.db.migration_audit import audit_added_column, migration_now

revision: str = 'd2d35b94edfe'
down_revision: str | None = '1e8672c51e38'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _printed_label() -> sa.Table:
    """printed_label as this revision leaves it, typed as the program reads it."""
    return sa.table(
        'printed_label',
        sa.column('id', sa.Integer()), sa.column('batch_id', sa.Integer()),
        sa.column('print_event_id', sa.Integer()), sa.column('bag_id', sa.Integer()),
        sa.column('vial_id', sa.Integer()), sa.column('sample', AutoString()),
        sa.column('kind', AutoString()), sa.column('final', sa.Boolean()),
        sa.column('reprint', sa.Boolean()), sa.column('flags', AutoString()),
        sa.column('site_settings_id', sa.Integer()), sa.column('content_hash', AutoString()),
        sa.column('document_hash', AutoString()), sa.column('printed_at', UTCDateTime()),
        sa.column('printed_by', sa.Integer()), sa.column('applied_at', UTCDateTime()),
        sa.column('applied_by', sa.Integer()), sa.column('destroyed_at', UTCDateTime()),
        sa.column('destroyed_by', sa.Integer()), sa.column('destroy_reason', AutoString()),
        sa.column('content_version', sa.Integer()),
    )


def _bedside_check() -> sa.Table:
    """bedside_check as this revision leaves it, typed as the program reads it."""
    return sa.table(
        'bedside_check',
        sa.column('id', sa.Integer()), sa.column('batch_id', sa.Integer()),
        sa.column('bag_id', sa.Integer()), sa.column('wristband_recipient', AutoString()),
        sa.column('bag_scans', AutoString()), sa.column('match', sa.Boolean()),
        sa.column('reasons', AutoString()), sa.column('checked_at', UTCDateTime()),
        sa.column('checked_by', sa.Integer()), sa.column('second_by', sa.Integer()),
        sa.column('coi_rule', AutoString()),
    )


def upgrade() -> None:
    # plain ALTERs, not a batch: a batch would rebuild the tables other tables reference
    op.add_column(
        'printed_label',
        sa.Column('content_version', sa.Integer(), nullable=False, server_default='1'),
    )
    op.add_column(
        'bedside_check',
        sa.Column('coi_rule', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    )
    connection = op.get_bind()
    at = migration_now(connection)
    audit_added_column(
        connection, _printed_label(), 'content_version', at=at,
        reason="label content version recorded: printed before labels carried the "
        "chain-of-identity identifier (content version 1)",
    )
    audit_added_column(
        connection, _bedside_check(), 'coi_rule', at=at,
        reason="chain-of-identity rule of the bedside check: checked before it was recorded",
    )


def downgrade() -> None:
    # plain ALTERs, not a batch: a batch would rebuild bedside_check, which infusion_record
    # references (SQLite refuses to drop it while foreign keys are enforced and a bag's
    # infusion is on record)
    op.drop_column('bedside_check', 'coi_rule')
    op.drop_column('printed_label', 'content_version')
