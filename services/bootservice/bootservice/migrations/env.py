"""Alembic environment: always run on a connection that bootservice.migrate
passes in `config.attributes["connection"]` (no alembic.ini, no URL here)."""

from __future__ import annotations

from alembic import context

from bootservice.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata)
with context.begin_transaction():
    context.run_migrations()
