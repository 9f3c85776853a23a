"""recall origin and the bag of a recall's report

A recall's hold records its origin as the look-back names it (``product_hold.origin``,
``bank EASC-B001``), and an adverse-event report opened by a recall records the recall's hold
and the infused bag (``adverse_event_report.hold_id``, ``bag_id``): a recall from an origin
already recalled under a hold still open is refused, and a recall reaching a bag whose
recall report is still open names that report instead of opening another (docs/clinic.md,
"Look-back and recall").

Recalls made before this revision are filled in from the text the program wrote: a recall
hold's reason begins ``recall from ORIGIN: ``, a recall report's description begins
``Recall H<n> from`` and names ``): BATCH bag N was`` after the recall's reason. A report
whose bag cannot be read keeps no bag (a later recall opens a report for it). A new column
changes every existing row's canonical content, so every existing hold and report gets an
audit entry (by the system) vouching for its new content.

Revision ID: c89cce8dbb38
Revises: 07592357ec36
Create Date: 2026-12-03 10:30:00.000000
"""
import re
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

from cellbatch.db.migration_audit import audit_added_column, migration_now

revision: str = 'c89cce8dbb38'
down_revision: str | None = '07592357ec36'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_HOLD_ORIGIN = re.compile(r"recall from ([^:]+): ")
_REPORT_HOLD = re.compile(r"Recall H(\d+) from ")


def _product_hold() -> sa.Table:
    """product_hold as this revision leaves it, typed as the program reads it."""
    return sa.table(
        'product_hold',
        sa.column('id', sa.Integer()), sa.column('cause', AutoString()),
        sa.column('reason', AutoString()), sa.column('donor_id', sa.Integer()),
        sa.column('placed_at', UTCDateTime()), sa.column('placed_by', sa.Integer()),
        sa.column('origin', AutoString()),
    )


def _report() -> sa.Table:
    """adverse_event_report as this revision leaves it, typed as the program reads it."""
    return sa.table(
        'adverse_event_report',
        sa.column('id', sa.Integer()), sa.column('recipient_id', sa.Integer()),
        sa.column('batch_id', sa.Integer()), sa.column('qc_result_id', sa.Integer()),
        sa.column('description', AutoString()), sa.column('status', AutoString()),
        sa.column('opened_at', UTCDateTime()), sa.column('opened_by', sa.Integer()),
        sa.column('severity_grade', sa.Integer()), sa.column('relatedness', AutoString()),
        sa.column('action_taken', AutoString()), sa.column('physician_notified', AutoString()),
        sa.column('physician_notified_at', UTCDateTime()),
        sa.column('assessed_at', UTCDateTime()), sa.column('assessed_by', sa.Integer()),
        sa.column('closed_at', UTCDateTime()), sa.column('closed_by', sa.Integer()),
        sa.column('closure', AutoString()), sa.column('hold_id', sa.Integer()),
        sa.column('bag_id', sa.Integer()),
    )


def _fill_in(connection: sa.Connection) -> None:
    """The origin of each recall hold and the hold and bag of each recall report, as written."""
    holds = _product_hold()
    recalls = {}
    for hold_id, reason in connection.execute(
        sa.select(holds.c.id, holds.c.reason).where(holds.c.cause == 'recall')
    ).all():
        found = _HOLD_ORIGIN.match(reason or '')
        recalls[hold_id] = found
        if found:
            connection.execute(
                holds.update().where(holds.c.id == hold_id).values(origin=found.group(1))
            )
    reports = _report()
    batch = sa.table('batch', sa.column('id', sa.Integer()), sa.column('code', AutoString()))
    bag = sa.table(
        'bag', sa.column('id', sa.Integer()), sa.column('batch_id', sa.Integer()),
        sa.column('number', sa.Integer()),
    )
    rows = connection.execute(
        sa.select(reports.c.id, reports.c.batch_id, reports.c.description, batch.c.code)
        .join(batch, batch.c.id == reports.c.batch_id)
        .where(reports.c.qc_result_id.is_(None))
    ).all()
    for report_id, batch_id, description, code in rows:
        found = _REPORT_HOLD.match(description or '')
        if found is None or int(found.group(1)) not in recalls:
            continue
        numbers = re.findall(rf"\): {re.escape(code)} bag (\d+) was ", description)
        bag_id = None
        if numbers:
            bag_id = connection.execute(
                sa.select(bag.c.id).where(
                    bag.c.batch_id == batch_id, bag.c.number == int(numbers[-1])
                )
            ).scalar_one_or_none()
        connection.execute(
            reports.update()
            .where(reports.c.id == report_id)
            .values(hold_id=int(found.group(1)), bag_id=bag_id)
        )


def upgrade() -> None:
    # a plain ALTER, not a batch: a batch would rebuild product_hold, which held_batch references
    op.add_column(
        'product_hold',
        sa.Column('origin', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    )
    with op.batch_alter_table('adverse_event_report', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hold_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('bag_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            'fk_adverse_event_report_hold_id', 'product_hold', ['hold_id'], ['id']
        )
        batch_op.create_foreign_key('fk_adverse_event_report_bag_id', 'bag', ['bag_id'], ['id'])
    connection = op.get_bind()
    _fill_in(connection)
    at = migration_now(connection)
    audit_added_column(
        connection, _product_hold(), 'origin', at=at,
        reason="a recall's origin recorded (read from the hold's reason; none for other causes)",
    )
    for column in ('hold_id', 'bag_id'):
        audit_added_column(
            connection, _report(), column, at=at, added=('hold_id', 'bag_id'),
            reason="the recall and bag of a report opened by a recall recorded (read from its "
            "description; none for other reports)",
        )


def downgrade() -> None:
    with op.batch_alter_table('adverse_event_report', schema=None) as batch_op:
        batch_op.drop_constraint('fk_adverse_event_report_bag_id', type_='foreignkey')
        batch_op.drop_constraint('fk_adverse_event_report_hold_id', type_='foreignkey')
        batch_op.drop_column('bag_id')
        batch_op.drop_column('hold_id')
    op.drop_column('product_hold', 'origin')
