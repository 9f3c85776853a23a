"""The full verify's streamed record hashes: the same as the ORM's, and every edit named.

``audit verify`` hashes every audited record without ORM objects (``row_hashes``); each hash
must be byte for byte the ``row_hash`` the program wrote into the trail from the ORM object,
for every kind of column, and an edit of any kind of column must still be found.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from cellbatch.db.audit_chain import row_hash
from cellbatch.db.audit_chain_rows import row_hashes
from cellbatch.db.tables import AUDITED_TABLES
from cellbatch.services.queries.audit import verify_trail


@pytest.mark.requirement("GMP-01")
def test_streamed_hash_of_every_demo_row_is_the_orm_row_hash(demo_db):
    compared = 0
    with demo_db.snapshot() as snapshot, snapshot.session() as session:
        for model in AUDITED_TABLES.values():
            table = model.__table__  # type: ignore[attr-defined]
            expected = {row.id: row_hash(row) for row in session.execute(select(model)).scalars()}
            assert dict(row_hashes(snapshot.connection, table)) == expected, table.name
            compared += len(expected)
    assert compared > 200


EDITS = [  # table, column, the edited value in SQL on SQLite and on PostgreSQL, the kind
    ("app_user", "locked", "NOT locked", "NOT locked", "boolean"),
    ("batch", "body_weight_kg", "body_weight_kg + 0.5", "body_weight_kg + 0.5", "float"),
    (
        "batch",
        "started_at",
        "strftime('%Y-%m-%d %H:%M:%f', started_at, '+0.001 seconds') || '000'",
        "started_at + interval '1 millisecond'",
        "time, a millisecond later",
    ),
    (
        "recipient_weight",
        "measured_on",
        "date(measured_on, '-1 day')",
        "measured_on - 1",
        "date, a day earlier",
    ),
    (
        "step_entry",
        "values",
        """json_set("values", '$.edited', 1)""",
        """("values"::jsonb || '{"edited": 1}'::jsonb)::json""",
        "JSON, a key added",
    ),
    ("batch", "infusion_number", "infusion_number + 1", "infusion_number + 1", "integer"),
    ("batch", "recipient_id", "'RA-P999'", "'RA-P999'", "text"),
]


@pytest.mark.requirement("GMP-01")
@pytest.mark.parametrize(
    ("table", "column", "on_sqlite", "on_postgresql", "kind"), EDITS, ids=[e[4] for e in EDITS]
)
def test_an_edit_of_each_kind_of_column_is_named(
    demo_db, table, column, on_sqlite, on_postgresql, kind
):
    assert verify_trail(demo_db).ok
    value = on_sqlite if demo_db.backend == "sqlite" else on_postgresql
    with demo_db.engine.begin() as connection:
        row_id = connection.execute(
            text(f'SELECT min(id) FROM {table} WHERE "{column}" IS NOT NULL')
        ).scalar_one()
        connection.execute(
            text(f'UPDATE {table} SET "{column}" = {value} WHERE id = :id'), {"id": row_id}
        )
    problems = verify_trail(demo_db).problems
    assert f"{table} {row_id} was edited outside the program" in "\n".join(problems), problems
