"""Text the database holds that is not UTF-8: read so that it can be named, never trusted.

The program writes only UTF-8 text, so such text was written by someone else: an edit in
the database, a forged row. SQLite hands it to Python only if asked to (Python's driver
otherwise refuses the whole read, and the check that met it could name nothing). Read
leniently, each byte that is not UTF-8 becomes a lone surrogate (``surrogateescape``): the
text can be compared and shown, and it can never be encoded again, so no hash of it can
match a hash the program wrote.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

NOT_UTF8 = "Could not decode to UTF-8"
"""How Python's SQLite driver begins its refusal of text that is not UTF-8."""

_LENIENT = functools.partial(str, encoding="utf-8", errors="surrogateescape")


def undecodable(exc: BaseException) -> bool:
    """True when ``exc`` (the driver's own, or SQLAlchemy's around it) is such a refusal."""
    orig = getattr(exc, "orig", None) or exc
    return isinstance(orig, sqlite3.OperationalError) and NOT_UTF8 in str(orig)


def reads_leniently(connection: Connection) -> bool:
    """True while ``connection`` reads text leniently (inside :func:`lenient_text`)."""
    if connection.dialect.name != "sqlite":
        return False
    return connection.connection.driver_connection.text_factory is _LENIENT


@contextmanager
def lenient_text(connection: Connection) -> Iterator[None]:
    """Text read on ``connection`` meanwhile comes with its bytes that are not UTF-8 escaped.

    Only SQLite's driver refuses such text (PostgreSQL stores none): elsewhere, nothing
    changes. Text that is UTF-8 reads exactly as it does otherwise.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    driver = connection.connection.driver_connection
    before = driver.text_factory
    driver.text_factory = _LENIENT
    try:
        yield
    finally:
        driver.text_factory = before
