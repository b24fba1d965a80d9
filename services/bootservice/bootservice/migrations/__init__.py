"""Alembic migrations of the citydb schema (see bootservice.migrate)."""
