"""A per-process copy of small tables for the hot reads, checked against
the database on every use.

`GET /api/v1/countries/<id>`, the unfiltered country list and the anonymous
`/countries` page read a table of a couple of hundred rows on nearly every
request. Each worker keeps all of it, with the table's write counter
(`table_version`) at the time it was loaded. Every write through the service
raises that counter in the same transaction, so a read first asks the
database for the counter (one primary-key lookup) and uses the copy only
while it matches: a write answered with 2xx is seen by every following read
on every worker and replica. A change made outside the service (plain SQL
that leaves the counter alone) shows once the copy is `READ_CACHE_TTL`
seconds old. A table larger than MAX_ROWS is not cached. Which tables are
copied is each `Resource`'s `cached` flag (only countries).

The counter and the copies are read on connections of their own in
autocommit mode (see `db.make_read_engine`): a check is then one round trip
to the database, where a session's would be four (the pool's ping, the
query, and two rollbacks), and the request that finds its copy valid never
opens a session at all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, Engine, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from .models import TableVersion

if TYPE_CHECKING:
    from .resources import Resource

MAX_ROWS = 5000
MAX_PAGES = 1024
# Plain SQL: built once, and its cache key is the string (a select() costs
# more Python per execution than the round trip it makes).
VERSION_SQL = text("SELECT version FROM table_version WHERE name = :name")

T = TypeVar("T")


def table_version(conn: Connection | Session, table: str) -> int:
    """The write counter of `table` as committed now."""
    return conn.scalar(VERSION_SQL, {"name": table}) or 0


def bump_version(session: Session, table: str) -> None:
    """Raise `table`'s counter inside the caller's transaction (before its commit)."""
    done = session.execute(
        update(TableVersion)
        .where(TableVersion.name == table)
        .values(version=TableVersion.version + 1)
    )
    if done.rowcount == 0:  # type: ignore[attr-defined]
        session.add(TableVersion(name=table, version=1))


@dataclass(frozen=True, eq=False)
class Snapshot:
    """All rows of a table as the API returns them, ordered by id.

    Compared by identity: a reload that finds the same rows keeps the same
    snapshot, and the pages rendered from it stay valid.
    """

    rows: list[dict[str, Any]]
    by_id: dict[int, dict[str, Any]]


class ReadCache:
    """The copies of one app (one process): tables and rendered pages."""

    def __init__(self, ttl: float, engine: Engine | None = None) -> None:
        self.ttl = ttl
        # Where counters and copies are read: the app's read engine.
        self.engine = engine
        self._lock = threading.Lock()
        self._tables: dict[str, tuple[float, int, Snapshot | None]] = {}
        self._pages: dict[str, tuple[Snapshot, str]] = {}

    @property
    def enabled(self) -> bool:
        """False when READ_CACHE_TTL is 0 (or no engine): every read goes to
        the database."""
        return self.ttl > 0 and self.engine is not None

    def _run(self, read: Callable[[Connection], T]) -> T:
        """`read(conn)` on a pooled connection, once more on a fresh one if
        the pooled one turns out to be dead.

        The read engine does not ping before each use (a round trip per
        request); a connection the server dropped (a restart, a Galera node
        that left) fails instead, and running these reads again is always
        safe: they only read.
        """
        assert self.engine is not None
        try:
            with self.engine.connect() as conn:
                return read(conn)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
        with self.engine.connect() as conn:
            return read(conn)

    def table(self, res: Resource) -> Snapshot | None:
        """The snapshot of `res`'s table at the current write counter; None
        if disabled or the table is too big."""
        if not self.enabled:
            return None
        return self._run(lambda conn: self._current(res, conn))

    def _current(self, res: Resource, conn: Connection) -> Snapshot | None:
        name = res.model.__tablename__
        version = table_version(conn, name)
        now = time.monotonic()
        cached = self._tables.get(name)
        if cached is not None and cached[0] > now and cached[1] == version:
            return cached[2]
        table = res.model.__table__
        found = conn.execute(select(table).order_by(table.c.id).limit(MAX_ROWS + 1)).all()
        snap = None
        if len(found) <= MAX_ROWS:
            rows = [res.to_json(row) for row in found]
            old = cached[2] if cached is not None else None
            # Read after the counter (autocommit): never older than `version`.
            snap = old if old is not None and old.rows == rows else None
            snap = snap or Snapshot(rows, {row["id"]: row for row in rows})
        with self._lock:
            self._tables[name] = (now + self.ttl, version, snap)
        return snap

    def page(self, key: str, snap: Snapshot, render: Callable[[], str]) -> str:
        """`render()`'s HTML, reused for the same key while the table's copy
        is `snap`.

        Only for pages that depend on nothing but their URL and that table
        (anonymous visitors: no session, no flashed messages).
        """
        hit = self._pages.get(key)
        if hit is not None and hit[0] is snap:
            return hit[1]
        html = render()
        with self._lock:
            if len(self._pages) >= MAX_PAGES:
                self._pages.clear()
            self._pages[key] = (snap, html)
        return html
