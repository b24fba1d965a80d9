"""Idempotency-Key of the API's POSTs: the claimed key, then the stored
response, kept IDEMPOTENCY_TTL (24 h) and deleted lazily by the service.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

MYSQL = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}


def upgrade() -> None:
    op.create_table(
        "idempotency_key",
        sa.Column("key_hash", sa.String(64), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("owner", sa.String(32), nullable=True),
        sa.Column("locked_until", sa.DateTime, nullable=True),
        sa.Column("status", sa.Integer, nullable=True),
        sa.Column("location", sa.String(255), nullable=True),
        sa.Column("body", sa.Text, nullable=True),
        **MYSQL,
    )
    op.create_index("ix_idempotency_key_expires_at", "idempotency_key", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_key_expires_at", table_name="idempotency_key")
    op.drop_table("idempotency_key")
