"""audit trail sealed under the site key

The audit trail becomes a keyed chain: the existing trail is proved with the unkeyed
SHA-256 it was written with, every entry is sealed with an HMAC-SHA256 under the site key
(a file outside the database, made by `cellbatch init` before this migration runs), the
key's fingerprint is recorded in the new audit_seal table, and the sealing is appended as
an audited event. A trail that does not prove intact is refused and nothing changes.

The key: `cellbatch init` reads it (or makes it, for a database never sealed) and hands it
to the migrations on their connection; a migration run any other way reads the configured
key file (CELLBATCH_KEY_FILE, default cellbatch.key in the data directory) and stops if
there is none. See docs/trust-model.md.

Revision ID: 371c686fc181
Revises: aa6a4c18acae
Create Date: 2026-12-02 13:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from cellbatch.db.audit_chain_seal import seal_trail, unseal_trail
from cellbatch.db.migration_audit import migration_key, migration_now

revision: str = '371c686fc181'
down_revision: str | None = 'aa6a4c18acae'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    connection = op.get_bind()
    key = migration_key(connection)  # before any change: no key, no upgrade
    op.create_table('audit_seal',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('chain_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('key_fingerprint', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('sealed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('entries_sealed', sa.Integer(), nullable=False),
    sa.Column('legacy_head_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    seal_trail(connection, key, migration_now(connection))


def downgrade() -> None:
    unseal_trail(op.get_bind())
    op.drop_table('audit_seal')
