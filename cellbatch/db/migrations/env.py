"""Alembic environment: runs on the connection that cellbatch.db.migrate hands it."""

from alembic import context
from sqlmodel import SQLModel

import cellbatch.db.tables  # noqa: F401  (registers the tables on SQLModel.metadata)

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("cellbatch runs migrations online only")
run_migrations_online()
