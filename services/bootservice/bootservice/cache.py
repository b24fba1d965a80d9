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
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .models import TableVersion

if TYPE_CHECKING:
    from .resources import Resource

MAX_ROWS = 5000
MAX_PAGES = 1024


def table_version(session: Session, table: str) -> int:
    """The write counter of `table` as committed now."""
    return session.scalar(select(TableVersion.version).where(TableVersion.name == table)) or 0


def bump_version(session: Session, table: str) -> None:
    """Raise `table`'s counter inside the caller's transaction (before its commit)."""
    done = session.execute(
        update(TableVersion)
        .where(TableVersion.name == table)
        .values(version=TableVersion.version + 1)
    )
    if done.rowcount == 0:  # type: ignore[attr-defined]
        session.add(TableVersion(name=table, version=1))


@dataclass(frozen=True)
class Snapshot:
    """All rows of a table as the API returns them, ordered by id."""

    rows: list[dict[str, Any]]
    by_id: dict[int, dict[str, Any]]
    version: int


class ReadCache:
    """The copies of one app (one process): tables and rendered pages."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._tables: dict[str, tuple[float, int, Snapshot | None]] = {}
        self._pages: dict[str, tuple[float, int, str]] = {}

    @property
    def enabled(self) -> bool:
        """False when READ_CACHE_TTL is 0: every read goes to the database."""
        return self.ttl > 0

    def table(self, res: Resource, session: Session) -> Snapshot | None:
        """The snapshot of `res`'s table at the current write counter; None
        if disabled or the table is too big."""
        if not self.enabled:
            return None
        name = res.model.__tablename__
        version = table_version(session, name)
        now = time.monotonic()
        cached = self._tables.get(name)
        if cached is not None and cached[0] > now and cached[1] == version:
            return cached[2]
        stmt = select(res.model).order_by(res.model.id).limit(MAX_ROWS + 1)
        found = session.scalars(stmt).all()
        snap = None
        if len(found) <= MAX_ROWS:
            rows = [res.to_json(row) for row in found]
            snap = Snapshot(rows, {row["id"]: row for row in rows}, version)
        with self._lock:
            # The rows were read in the same transaction as the counter (or a
            # later one): never older than `version` claims.
            self._tables[name] = (now + self.ttl, version, snap)
        return snap

    def page(self, key: str, version: int, render: Callable[[], str]) -> str:
        """`render()`'s HTML, reused for the same key and table counter.

        Only for pages that depend on nothing but their URL (anonymous
        visitors: no session, no flashed messages).
        """
        if not self.enabled:
            return render()
        now = time.monotonic()
        hit = self._pages.get(key)
        if hit is not None and hit[0] > now and hit[1] == version:
            return hit[2]
        html = render()
        with self._lock:
            if len(self._pages) >= MAX_PAGES:
                self._pages.clear()
            self._pages[key] = (now + self.ttl, version, html)
        return html
