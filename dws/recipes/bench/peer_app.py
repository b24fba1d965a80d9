"""The `peer` target: the country lookup as a user would write it.

Plain Flask + SQLAlchemy ORM + PyMySQL without this project: a module-level
engine with SQLAlchemy's default pool, a session per request and
`session.get()` by primary key. It is deliberately ordinary, not a strawman:
this is what the SQLAlchemy and Flask tutorials lead to. It reads the same
DB_* variables as bootservice so it queries the same MariaDB as the same
least-privilege user.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, abort, jsonify
from sqlalchemy import String, create_engine
from sqlalchemy.engine import URL
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    """Declarative base of the peer's one model."""


class Country(Base):
    """The citydb country table."""

    __tablename__ = "country"

    id: Mapped[int] = mapped_column(primary_key=True)
    countryname: Mapped[str] = mapped_column(String(255))
    countrycode: Mapped[str] = mapped_column(String(255))


engine = create_engine(
    URL.create(
        "mysql+pymysql",
        username=os.environ["DB_USER"],
        password=Path(os.environ["DB_PASSWORD_FILE"]).read_text().rstrip("\n"),
        host=os.environ["DB_HOST"],
        port=int(os.environ["DB_PORT"]),
        database=os.environ["DB_NAME"],
        query={"charset": "utf8mb4"},
    )
)
app = Flask(__name__)


@app.get("/peer/countries/<int:country_id>")
def country(country_id: int):
    """One country by primary key, as JSON."""
    with Session(engine) as session:
        row = session.get(Country, country_id)
        if row is None:
            abort(404)
        return jsonify(id=row.id, countryname=row.countryname, countrycode=row.countrycode)


@app.get("/healthz")
def healthz():
    """Liveness, so the benchmark can wait for it like for bootservice."""
    return jsonify(status="ok")
