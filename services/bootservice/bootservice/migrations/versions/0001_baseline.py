"""Baseline: the schema of services/mysql/citydb.sql (country, city, user_info).

A database created by services/mysql/citydb.sql (every release before
migrations existed) is at this revision; bootservice.migrate stamps it as
such when it finds the tables without an alembic_version table.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

MYSQL = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "country",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True, comment="主键"),
        sa.Column("countryname", sa.String(255), nullable=False, comment="名称"),
        sa.Column("countrycode", sa.String(255), nullable=False, comment="代码"),
        comment="国家信息",
        **MYSQL,
    )
    op.create_table(
        "city",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, comment="名称"),
        sa.Column("state", sa.String(255), nullable=True, comment="省份"),
        comment="市级信息",
        **MYSQL,
    )
    op.create_table(
        "user_info",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(32), nullable=False, comment="用户名"),
        sa.Column("password", sa.String(255), nullable=False, comment="密码 (salted hash)"),
        sa.Column("usertype", sa.String(2), nullable=True, comment="用户类型"),
        sa.Column("enabled", sa.Integer, nullable=False, server_default="1", comment="是否可用"),
        sa.Column("realname", sa.String(32), nullable=True, comment="真实姓名"),
        sa.Column("qq", sa.String(14), nullable=True, comment="QQ"),
        sa.Column("email", sa.String(100), nullable=True),
        sa.Column("tel", sa.String(255), nullable=True, comment="联系电话"),
        sa.UniqueConstraint("username", name="uq_user_info_username"),
        comment="用户信息表",
        **MYSQL,
    )


def downgrade() -> None:
    for table in ("user_info", "city", "country"):
        op.drop_table(table)
