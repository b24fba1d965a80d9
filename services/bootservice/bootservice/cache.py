"""A per-process copy of small tables for the hot reads, checked against
the database's write counter, and a lease that spares most of the checks.

`GET /api/v1/countries/<id>`, the unfiltered country list and the anonymous
`/countries` page read a table of a couple of hundred rows on nearly every
request. Each worker keeps all of it, with the table's write counter
(`table_version`, versions.py) at the time it was loaded. Every write
through the service raises that counter in the same transaction.

The promise is read-your-writes across workers and replicas: once a write
has been answered with 2xx, every following read on any worker of any
replica reflects it. It is kept with a lease of `READ_CACHE_LEASE` seconds:

- a worker that read the counter and found its copy current may use the copy
  for `lease` seconds more without asking again, timed from before it sent
  the question;
- a request that committed a write to a cached table holds its answer until
  `lease` seconds after the commit returned (`hold_until`).

A read that starts after that answer therefore uses a copy whose counter was
read after the commit, and saw it. Only durations are compared, each on one
process's own monotonic clock, so the replicas' clocks need not agree. The
lease trades a delay on writes of cached tables for round trips on reads: a
worker asks at most once per lease, whatever its traffic. With a lease of 0
every read asks, and writes are not held.

A change made outside the service (plain SQL that leaves the counter alone)
shows once the copy is `READ_CACHE_TTL` seconds old. A table larger than
MAX_ROWS is not cached. Which tables are copied is each `Resource`'s
`cached` flag (only countries).

The counter and the copies are read on connections of their own in
autocommit mode (see `engine.make_read_engine`): a check is then one round trip
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

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import DBAPIError

from .versions import table_version

if TYPE_CHECKING:
    from .resources import Resource

MAX_ROWS = 5000
# Seconds within which a pooled connection's failure means "dropped by the
# server" (worth one more try) rather than "no answer" (a timeout).
STALE_FAILS_WITHIN = 1.0
MAX_PAGES = 1024

T = TypeVar("T")


def _not_recorded(_table: str, _what: str) -> None:
    pass


@dataclass(frozen=True, eq=False)
class Snapshot:
    """All rows of a table as the API returns them, ordered by id.

    Compared by identity: a reload that finds the same rows keeps the same
    snapshot, and the pages rendered from it stay valid.
    """

    rows: list[dict[str, Any]]
    by_id: dict[int, dict[str, Any]]
    # The rows as the database sent them: a reload that finds the same ones
    # keeps this snapshot without converting a single row.
    source: list[Any]


def _renewed(res: Resource, old: Snapshot | None, found: list[Any]) -> Snapshot:
    """The snapshot of `found`: `old` itself when no row changed, else a new
    one that reuses `old`'s converted rows wherever the row is the same (a
    write changes one row; every worker reloads after it)."""
    if old is not None and old.source == found:
        return old
    before = {raw.id: raw for raw in old.source} if old is not None else {}
    rows = [
        old.by_id[raw.id] if old is not None and before.get(raw.id) == raw else res.to_json(raw)
        for raw in found
    ]
    return Snapshot(rows, {row["id"]: row for row in rows}, found)


@dataclass(frozen=True)
class _Copy:
    expires: float  # monotonic time the copy must be reloaded from the table
    version: int  # the table's counter the copy belongs to
    checked: float  # monotonic time before the counter was last read
    snap: Snapshot | None  # None: too many rows to copy


class ReadCache:
    """The copies of one app (one process): tables and rendered pages."""

    def __init__(self, ttl: float, engine: Engine | None = None, lease: float = 0.0) -> None:
        self.ttl = ttl
        # Where counters and copies are read: the app's read engine.
        self.engine = engine
        # Never longer than the copy lives: it bounds a write's extra wait.
        self.lease = min(lease, ttl)
        self._lock = threading.Lock()
        self._tables: dict[str, _Copy] = {}
        self._pages: dict[str, tuple[Snapshot, str]] = {}
        self._sql: dict[str, str] = {}
        # Told (table, "hit" | "check" | "reload") of each read: the app's
        # metrics count them (metrics.py).
        self.record: Callable[[str, str], None] = _not_recorded

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
        safe: they only read. Only a failure that came at once is tried
        again (see STALE_FAILS_WITHIN).
        """
        assert self.engine is not None
        started = time.monotonic()
        try:
            with self.engine.connect() as conn:
                return read(conn)
        except DBAPIError as exc:
            # A dropped connection fails at once; one that waited out its
            # timeout met a server that is gone, and a second try would only
            # wait again.
            if not exc.connection_invalidated or time.monotonic() - started > STALE_FAILS_WITHIN:
                raise
        with self.engine.connect() as conn:
            return read(conn)

    def table(self, res: Resource) -> Snapshot | None:
        """The snapshot of `res`'s table as of a counter read within the
        lease; None if disabled or the table is too big."""
        if not self.enabled:
            return None
        name = res.model.__tablename__
        cached = self._tables.get(name)
        now = time.monotonic()
        if cached is not None and now < cached.expires and now < cached.checked + self.lease:
            self.record(name, "hit")
            return cached.snap
        return self._run(lambda conn: self._current(res, conn))

    def _current(self, res: Resource, conn: Connection) -> Snapshot | None:
        name = res.model.__tablename__
        # Before the question: the answer is at least as new as this moment.
        checked = time.monotonic()
        version = table_version(conn, name)
        self.record(name, "check")
        cached = self._tables.get(name)
        if cached is not None and cached.expires > checked and cached.version == version:
            self._store(name, _Copy(cached.expires, version, checked, cached.snap))
            self.record(name, "hit")
            return cached.snap
        # Read after the counter (autocommit): never older than `version`.
        found = conn.exec_driver_sql(self._copy_sql(res, conn)).all()
        snap = None
        if len(found) <= MAX_ROWS:
            snap = _renewed(res, cached.snap if cached is not None else None, found)
        self._store(name, _Copy(checked + self.ttl, version, checked, snap))
        self.record(name, "reload")
        return snap

    def _copy_sql(self, res: Resource, conn: Connection) -> str:
        """The copy's SELECT, compiled once per table: run as plain SQL, its
        rows skip the statement's compilation and result processing, half
        the cost of a reload (the cached tables hold numbers and text only,
        which the driver already returns as Python values)."""
        name = res.model.__tablename__
        sql = self._sql.get(name)
        if sql is None:
            table = res.model.__table__
            stmt = select(table).order_by(table.c.id).limit(MAX_ROWS + 1)
            sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
            self._sql[name] = sql
        return sql

    def _store(self, name: str, copy: _Copy) -> None:
        with self._lock:
            self._tables[name] = copy

    def recheck(self) -> None:
        """Ask for every counter again at the next read: this process has
        just committed a write, and its own next read must not wait for the
        lease to show it."""
        with self._lock:
            for name, copy in self._tables.items():
                self._tables[name] = _Copy(copy.expires, copy.version, float("-inf"), copy.snap)

    def hold_until(self, committed: float) -> float:
        """The monotonic time before which the answer to a write committed at
        `committed` must not leave: every copy in use then was checked after
        the commit."""
        return committed + self.lease if self.enabled else committed

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
