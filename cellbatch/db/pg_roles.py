"""PostgreSQL defends the audit trail itself: the application's role may only add to it.

In a PostgreSQL deployment two roles are used (docs/trust-model.md):

- the **owner** role owns the tables; ``cellbatch init --owner-db URL`` migrates as it and
  then grants the application role what it needs, and nothing more;
- the **application** role (the user of ``--db`` / ``CELLBATCH_DATABASE_URL``, the role
  every terminal connects as) may SELECT, INSERT and UPDATE the process records, but on the
  audit trail only SELECT and INSERT (``audit_entry``, ``audit_seal``), UPDATE of the head's
  two columns (the head moves with every write), and only SELECT on ``alembic_version``.
  It may DELETE or TRUNCATE nothing: an entry cannot be edited or removed, the trail
  cannot be cut, by the program's own credentials.

With one URL (the default, the tests, ``scripts/run``) that one role owns everything.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

from cellbatch.domain.errors import InvalidInput

APPEND_ONLY = ("audit_entry", "audit_seal")
"""Tables the application role may only read and add to."""

READ_ONLY = ("alembic_version",)
"""Tables the application role may only read."""


def _quoted(connection: Connection, name: str) -> str:
    return connection.execute(text("SELECT quote_ident(:n)"), {"n": name}).scalar_one()


def grant_application_role(connection: Connection, role: str) -> None:
    """Give ``role`` exactly the application's rights on every table (run as the owner)."""
    owner = connection.execute(text("SELECT current_user")).scalar_one()
    if role == owner:
        raise InvalidInput(
            "--db",
            f"the application role {role!r} is the owner role of --owner-db: connect the "
            "application as another role, which init gives only the rights it needs",
        )
    exists = connection.execute(
        text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}
    ).scalar()
    if not exists:
        raise InvalidInput("--db", f"PostgreSQL has no role {role!r}: create it first (LOGIN)")
    app = _quoted(connection, role)
    tables = connection.execute(
        text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
    ).scalars()
    connection.execute(text(f"GRANT USAGE ON SCHEMA public TO {app}"))
    for table in tables:
        name = _quoted(connection, table)
        connection.execute(text(f"REVOKE ALL ON {name} FROM PUBLIC, {app}"))
        if table in READ_ONLY:
            rights = "SELECT"
        elif table in APPEND_ONLY:
            rights = "SELECT, INSERT"
        elif table == "audit_head":
            rights = "SELECT, UPDATE (seq, hash)"
        else:
            rights = "SELECT, INSERT, UPDATE"
        connection.execute(text(f"GRANT {rights} ON {name} TO {app}"))
    connection.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {app}"))
