"""Each table's write counter (`table_version`): raised by every write
through the service in the write's own transaction, read by the read cache
to know whether its copy of a table is still current (cache.py)."""

from __future__ import annotations

from sqlalchemy import Connection, text, update
from sqlalchemy.orm import Session

from .models import TableVersion

# Set in a session's `info` by a write to a cached table: its answer is held
# for the read cache's lease after the commit.
HOLD_ANSWER = "dws_hold_answer"
# Plain SQL: built once, and its cache key is the string (a select() costs
# more Python per execution than the round trip it makes).
VERSION_SQL = text("SELECT version FROM table_version WHERE name = :name")


def table_version(conn: Connection | Session, table: str) -> int:
    """The write counter of `table` as committed now."""
    return conn.scalar(VERSION_SQL, {"name": table}) or 0


def bump_version(session: Session, table: str, cached: bool = False) -> None:
    """Raise `table`'s counter inside the caller's transaction (before its commit).

    `cached`: the table has copies in the read cache, so the request's answer
    must wait for the lease after the commit (see HOLD_ANSWER).
    """
    if cached:
        session.info[HOLD_ANSWER] = True
    done = session.execute(
        update(TableVersion)
        .where(TableVersion.name == table)
        .values(version=TableVersion.version + 1)
    )
    if done.rowcount == 0:  # type: ignore[attr-defined]
        session.add(TableVersion(name=table, version=1))
