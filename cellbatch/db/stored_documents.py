"""JSON documents as the database holds them: read as the program wrote them, or refused.

The program writes each JSON column from Python values, so a document that is not JSON, or
one nested deeper than Python parses, was written by someone else. Read by SQLAlchemy's
default, such a document stopped every screen and command that showed its record with an
"unexpected" error (``JSONDecodeError``, ``RecursionError``); each engine now reads documents
through :func:`read_document`, which refuses such a one the way an edited record is refused.
"""

from __future__ import annotations

import json
from typing import Any

from cellbatch.domain.errors import CellbatchError


class UnreadableDocument(CellbatchError, ValueError):
    """A JSON document in the database that is no document the program writes. Exit 1.

    A ``ValueError`` too: ``audit verify`` reads it as a value the program cannot read, and
    names the record (``audit_chain_rows.UNREADABLE_VALUE``).
    """


MESSAGE = (
    "a JSON document stored in the database cannot be read ({what}): it was edited outside "
    "the program, and nothing was written. `cellbatch audit verify` names its record; tell "
    "QA, who records a deviation and restores the record (or the last verified backup)"
)


def read_document(text: str | bytes) -> Any:
    """The document ``text`` holds (``json.loads``), or :class:`UnreadableDocument`."""
    try:
        return json.loads(text)
    except RecursionError:
        raise UnreadableDocument(MESSAGE.format(what="nested too deep")) from None
    except ValueError:  # not JSON, or bytes that are not UTF-8
        raise UnreadableDocument(MESSAGE.format(what="not JSON")) from None
