"""Alembic environment: the connection is handed in by cairn.store.Store."""

from alembic import context

from cairn.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
