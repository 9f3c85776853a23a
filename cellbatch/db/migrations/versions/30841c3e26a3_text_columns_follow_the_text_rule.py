"""text columns follow the text rule

Every free-text column is as long as the one free-text limit (2000 characters), so that a
text the rule accepts is never refused by the database (PostgreSQL raised DataError for a
QC method, a marker or a relationship longer than its old column). SOP IDs are as long as
the SOP key rule allows (60).

Nothing stored is ever cut: where a column becomes shorter (a deviation's description was
4000, its investigation, root cause and CAPA unbounded) and a stored value is longer than the
new length, that column keeps its size on that database (the rule still refuses new text
over the limit). SQLite does not enforce lengths; its tables are rebuilt with the new
declared lengths.

Revision ID: 30841c3e26a3
Revises: 3cb58689a19b
Create Date: 2026-12-02 07:35:34.176023
"""
import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '30841c3e26a3'
down_revision: str | None = '3cb58689a19b'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TEXT = 2000
"""The free-text limit (cellbatch.domain.text.MAX_TEXT) when this migration was written."""

# table: [(column, old length (None: unbounded), new length, nullable)]
COLUMNS: dict[str, list[tuple[str, int | None, int, bool]]] = {
    "correction": [
        ("old_value", 200, TEXT, False),
        ("new_value", 200, TEXT, False),
        ("reason", 1000, TEXT, False),
    ],
    "deviation": [
        ("title", 200, TEXT, False),
        ("description", 4000, TEXT, False),
        ("investigation", None, TEXT, True),
        ("root_cause", None, TEXT, True),
        ("capa", None, TEXT, True),
    ],
    "donor": [("relationship", 60, TEXT, False)],
    "donor_test": [("marker", 60, TEXT, False)],
    "label_event": [("reason", 1000, TEXT, True)],
    "material_lot": [("name", 200, TEXT, False)],
    "qc_result": [
        ("name", 200, TEXT, False),
        ("method", 200, TEXT, False),
        ("value_text", 60, TEXT, True),
        ("spec", 100, TEXT, False),
    ],
    "release_decision": [("reason", 1000, TEXT, False)],
    "sop_version": [("sop_id", 64, 60, False), ("title", 300, TEXT, False)],
}


def _fits(table: str, column: str, length: int) -> bool:
    """Whether every stored value of the column is at most ``length`` characters long."""
    longest = op.get_bind().execute(
        sa.text(f'SELECT max(length("{column}")) FROM "{table}"')
    ).scalar()
    return longest is None or longest <= length


def _alter(lengths: dict[str, list[tuple[str, int | None, int | None, bool]]]) -> None:
    if op.get_bind().dialect.name != "postgresql":
        _declare_on_sqlite(lengths)
        return
    for table, columns in lengths.items():
        for column, old, new, nullable in columns:
            shorter = new is not None and (old is None or new < old)
            if shorter and not _fits(table, column, new):
                continue  # a stored value is longer: nothing is ever cut
            op.alter_column(
                table,
                column,
                existing_type=sa.String(old),
                type_=sa.String(new),
                existing_nullable=nullable,
            )


def _declare_on_sqlite(lengths: dict[str, list[tuple[str, int | None, int | None, bool]]]) -> None:
    """Change the declared lengths in SQLite's schema text, where they are only declarations.

    SQLite stores and compares a VARCHAR(60) and a VARCHAR(2000) alike (text affinity, no
    length check), so only the declaration changes; the rows, their ids and the references
    between tables stay exactly as they are (SQLite's documented procedure for schema changes
    that do not touch the stored content: writable_schema, then a new schema_version).
    """
    bind = op.get_bind()
    version = bind.execute(sa.text("PRAGMA schema_version")).scalar_one()
    bind.execute(sa.text("PRAGMA writable_schema = ON"))
    for table, columns in lengths.items():
        sql = bind.execute(
            sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"),
            {"t": table},
        ).scalar_one()
        for column, _old, new, _nullable in columns:
            declared = f"VARCHAR({new})" if new else "VARCHAR"
            sql, found = re.subn(
                rf'(?m)^(\s*"?{column}"?\s+)VARCHAR(\(\d+\))?', rf"\g<1>{declared}", sql
            )
            if found != 1:
                raise RuntimeError(f"column {table}.{column} not found in its CREATE TABLE")
        bind.execute(
            sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = :t"),
            {"sql": sql, "t": table},
        )
    bind.execute(sa.text(f"PRAGMA schema_version = {version + 1}"))
    bind.execute(sa.text("PRAGMA writable_schema = OFF"))


def upgrade() -> None:
    _alter(COLUMNS)


def downgrade() -> None:
    _alter(
        {
            table: [(column, new, old, nullable) for column, old, new, nullable in columns]
            for table, columns in COLUMNS.items()
        }
    )
