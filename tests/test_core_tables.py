"""The Core tables of the log-in and the batch list: the SQLModel tables' columns, not a copy.

``cellbatch.db.core_tables`` lets a reading command log in and list batches without loading
the ORM and the table classes (docs/start-up.md). It must never drift from
``cellbatch.db.tables``, the one definition: every column it names is there with the same
type, nullability and key, and every row reads the same through both.
"""

from __future__ import annotations

from datetime import UTC

import pytest
from sqlalchemy import select
from sqlmodel import SQLModel

import cellbatch.db.tables  # noqa: F401 - fills SQLModel.metadata
from cellbatch.db import core_tables
from tests.test_startup import python

CORE_TABLES = sorted(core_tables.METADATA.tables.values(), key=lambda t: t.name)


@pytest.mark.parametrize("core", CORE_TABLES, ids=[t.name for t in CORE_TABLES])
def test_every_core_column_is_the_sqlmodel_tables_column(core):
    orm = SQLModel.metadata.tables[core.name]
    for column in core.columns:
        assert column.name in orm.c, f"{core.name}.{column.name} is not in cellbatch.db.tables"
        other = orm.c[column.name]
        assert column.type._type_affinity is other.type._type_affinity, column.name
        assert getattr(column.type, "timezone", None) == getattr(other.type, "timezone", None)
        assert column.nullable == other.nullable, column.name
        assert column.primary_key == other.primary_key, column.name


@pytest.mark.parametrize("core", CORE_TABLES, ids=[t.name for t in CORE_TABLES])
def test_every_demo_row_reads_the_same_through_both(demo_db, core):
    orm = SQLModel.metadata.tables[core.name]
    names = [column.name for column in core.columns]
    with demo_db.engine.connect() as connection:
        through_core = connection.execute(select(core).order_by(core.c.id)).all()
        through_orm = connection.execute(
            select(*(orm.c[name] for name in names)).order_by(orm.c.id)
        ).all()
    assert through_core and [tuple(r) for r in through_core] == [tuple(r) for r in through_orm]
    for row in through_core:  # times come back aware UTC, as the table classes give them
        for value in row:
            if hasattr(value, "tzinfo"):
                assert value.tzinfo is UTC


def test_a_reading_command_loads_neither_the_orm_nor_the_table_classes(demo_db):
    code = (
        "import io, sys\n"
        "from cellbatch.cli.app import main\n"
        "from cellbatch.services import passwords\n"
        "passwords.TEST_SCRYPT_N = 1024\n"
        "sys.stdin = io.StringIO('demo-qa1-pass\\n')\n"
        "try:\n"
        f"    main(['--db', {demo_db.url!r}, 'batch', 'list', '--user', 'qa1', "
        "'--password-stdin'])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "heavy = ('sqlalchemy.orm', 'sqlmodel', 'cellbatch.db.tables')\n"
        "print('LOADED', sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = python(code)
    assert "EASC-B001" in out and "LOADED []" in out, out[-500:]


def test_the_core_account_table_holds_every_column_of_the_account():
    """The log-in compares the account row with its audit trail through the Core table
    (``audit_chain_rows.stored_row_problem``): a column left out would go unchecked."""
    orm = SQLModel.metadata.tables["app_user"]
    assert sorted(c.name for c in core_tables.app_user.columns) == sorted(c.name for c in orm.c)
