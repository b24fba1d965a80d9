"""The citydb tables as SQLAlchemy 2.0 typed models.

They mirror services/mysql/citydb.sql; tests/integration/test_schema.py
checks that the schema that file creates on MariaDB and these models agree.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments an INTEGER PRIMARY KEY, so the embedded default
# gets INTEGER where MySQL has BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base of the citydb models."""


class Country(Base):
    """A country or region (国家信息)."""

    __tablename__ = "country"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    countryname: Mapped[str] = mapped_column(String(255))
    countrycode: Mapped[str] = mapped_column(String(255))


class City(Base):
    """A city with its province (市级信息)."""

    __tablename__ = "city"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255))
    state: Mapped[str | None] = mapped_column(String(255))


class User(Base):
    """An account (用户信息表); `password` holds a salted hash."""

    __tablename__ = "user_info"
    __table_args__ = (UniqueConstraint("username", name="uq_user_info_username"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(32))
    password: Mapped[str] = mapped_column(String(255))
    usertype: Mapped[str | None] = mapped_column(String(2))
    enabled: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    realname: Mapped[str | None] = mapped_column(String(32))
    qq: Mapped[str | None] = mapped_column(String(14))
    email: Mapped[str | None] = mapped_column(String(100))
    tel: Mapped[str | None] = mapped_column(String(255))


class WebSession(Base):
    """A logged-in page session; the cookie carries the token, the row its
    digest. Deleting the row ends the session on every worker and replica."""

    __tablename__ = "web_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the token
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    created_at: Mapped[int] = mapped_column(BigInteger)  # unix seconds
    expires_at: Mapped[int] = mapped_column(BigInteger)


class AuthThrottle(Base):
    """Failed authentications per key (an account or a client address) in
    the current window, shared by every worker and replica."""

    __tablename__ = "auth_throttle"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[int] = mapped_column(BigInteger)  # unix seconds
    blocked_until: Mapped[int] = mapped_column(BigInteger)


class TableVersion(Base):
    """A counter per table, raised in the same transaction as every write
    through the service: a cached copy is valid while its counter matches."""

    __tablename__ = "table_version"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)


class IdempotencyKey(Base):
    """A claimed Idempotency-Key and, once its request completed, the response.

    Written and read only by bootservice/idempotency.py.
    """

    __tablename__ = "idempotency_key"
    __table_args__ = (Index("ix_idempotency_key_expires_at", "expires_at"),)

    # SHA-256 (hex) of the user id and the client's key: fixed length,
    # nothing the client chose is used as an index value as is.
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # SHA-256 (hex) of the method, path and body of the first request.
    fingerprint: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    # Set while the first request runs; NULL once its response is stored.
    owner: Mapped[str | None] = mapped_column(String(32))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    status: Mapped[int | None] = mapped_column(Integer)
    location: Mapped[str | None] = mapped_column(String(255))
    body: Mapped[str | None] = mapped_column(Text)
