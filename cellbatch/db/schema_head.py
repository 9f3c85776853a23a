"""The newest schema revision this program's migrations make, known without Alembic.

Every command checks the database's revision against this one constant in one query, so a
command that only reads never loads Alembic. ``migrate.revision`` rewrites it with each new
migration; ``migrate.head_revision`` (and with it every ``init`` and every test database)
refuses to run while it names another revision than the migrations' head.
"""

SCHEMA_HEAD = "c89cce8dbb38"
