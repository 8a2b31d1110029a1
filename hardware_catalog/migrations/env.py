"""Alembic environment: runs on the connection ``hardware_catalog.saved`` passes in."""

from alembic import context

from hardware_catalog.saved import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
