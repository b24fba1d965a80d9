"""Server-side page sessions, the shared authentication throttle, and the
per-table write counters that validate the workers' read caches.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

MYSQL = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}


def upgrade() -> None:
    op.create_table(
        "web_session",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        **MYSQL,
    )
    op.create_index("ix_web_session_user_id", "web_session", ["user_id"])
    op.create_table(
        "auth_throttle",
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("window_start", sa.BigInteger, nullable=False),
        sa.Column("blocked_until", sa.BigInteger, nullable=False),
        **MYSQL,
    )
    versions = op.create_table(
        "table_version",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
        **MYSQL,
    )
    op.bulk_insert(
        versions, [{"name": name, "version": 0} for name in ("country", "city", "user_info")]
    )


def downgrade() -> None:
    op.drop_table("table_version")
    op.drop_table("auth_throttle")
    op.drop_index("ix_web_session_user_id", table_name="web_session")
    op.drop_table("web_session")
