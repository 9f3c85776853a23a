"""Which unique index or constraint a refused write broke, on either backend.

PostgreSQL names it in the error's diagnostics; SQLite names the index only for an
expression index and otherwise lists the columns (``UNIQUE constraint failed: batch.code``),
which are looked up among the tables' unique indexes and constraints.
"""

from __future__ import annotations

import re
from functools import cache

from sqlalchemy import Index, UniqueConstraint
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

import cellbatch.db.tables  # noqa: F401  (registers the tables on SQLModel.metadata)

_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (?:index '(?P<index>[^']+)'|(?P<cols>.+))")


@cache
def _by_columns() -> dict[tuple[str, tuple[str, ...]], str]:
    """(table, column names) → name of the unique index or named constraint on them."""
    found: dict[tuple[str, tuple[str, ...]], str] = {}
    for table in SQLModel.metadata.tables.values():
        for item in (*table.indexes, *table.constraints):
            unique = isinstance(item, UniqueConstraint) or (isinstance(item, Index) and item.unique)
            columns = tuple(c.name for c in item.columns)
            if unique and item.name and columns:
                found[(table.name, columns)] = str(item.name)
    return found


def broken_unique(exc: IntegrityError) -> str | None:
    """The name of the unique index or constraint ``exc`` reports, or None if it is not one."""
    orig = exc.orig
    if getattr(orig, "sqlstate", None) is not None:  # PostgreSQL (psycopg)
        if orig.sqlstate != "23505":  # unique_violation
            return None
        return getattr(orig.diag, "constraint_name", None)
    match = _SQLITE_UNIQUE.match(str(orig))
    if match is None:
        return None
    if match["index"]:
        return match["index"]
    qualified = [c.strip().split(".", 1) for c in match["cols"].split(",")]
    if any(len(parts) != 2 for parts in qualified):
        return None
    key = (qualified[0][0], tuple(column for _table, column in qualified))
    return _by_columns().get(key)
