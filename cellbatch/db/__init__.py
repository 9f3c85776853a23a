"""Database adapters: SQLModel tables, engine, migrations and the audit chain."""
