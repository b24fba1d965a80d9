"""A short-lived, per-process copy of small tables for the hot reads.

`GET /api/v1/countries/<id>`, the unfiltered country list and the anonymous
`/countries` page read a table of a couple of hundred rows on nearly every
request. Each worker keeps all of it for at most `READ_CACHE_TTL` seconds
(0.5 by default) and reloads it with one query, so those reads cost no
database round trip. Staleness stays bounded: a commit in this process drops
the copy at once, and a write made through another worker or replica shows
here within the TTL — inside the 1 s the project promises (checked through
nginx by tests/integration/test_bench_quick.py). A table larger than
MAX_ROWS is not cached; reads then go to the database as before. Which
tables are copied is each `Resource`'s `cached` flag (only countries).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from .resources import Resource

MAX_ROWS = 5000
MAX_PAGES = 1024


@dataclass(frozen=True)
class Snapshot:
    """All rows of a table as the API returns them, ordered by id."""

    rows: list[dict[str, Any]]
    by_id: dict[int, dict[str, Any]]


class ReadCache:
    """The copies of one app (one process): tables and rendered pages."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._generation = 0  # bumped by every commit in this process
        self._tables: dict[str, tuple[float, int, Snapshot | None]] = {}
        self._pages: dict[str, tuple[float, int, str]] = {}

    @property
    def enabled(self) -> bool:
        """False when READ_CACHE_TTL is 0: every read goes to the database."""
        return self.ttl > 0

    def table(self, res: Resource, session: Callable[[], Session]) -> Snapshot | None:
        """The snapshot of `res`'s table, reloaded when older
        than the TTL; None if disabled or the table is too big. `session` is
        called only to reload."""
        if not self.enabled:
            return None
        now = time.monotonic()
        cached = self._tables.get(res.name)
        if cached is not None and cached[0] > now and cached[1] == self._generation:
            return cached[2]
        generation = self._generation
        stmt = select(res.model).order_by(res.model.id).limit(MAX_ROWS + 1)
        found = session().scalars(stmt).all()
        snap = None
        if len(found) <= MAX_ROWS:
            rows = [res.to_json(row) for row in found]
            snap = Snapshot(rows, {row["id"]: row for row in rows})
        with self._lock:
            # A commit that raced with this load keeps it out: it may predate the write.
            if generation == self._generation:
                self._tables[res.name] = (now + self.ttl, generation, snap)
        return snap

    def page(self, key: str, render: Callable[[], str]) -> str:
        """`render()`'s HTML, reused within the TTL for the same key.

        Only for pages that depend on nothing but their URL (anonymous
        visitors: no session, no flashed messages).
        """
        if not self.enabled:
            return render()
        now = time.monotonic()
        hit = self._pages.get(key)
        if hit is not None and hit[0] > now and hit[1] == self._generation:
            return hit[2]
        generation = self._generation
        html = render()
        with self._lock:
            if len(self._pages) >= MAX_PAGES:
                self._pages.clear()
            if generation == self._generation:
                self._pages[key] = (now + self.ttl, generation, html)
        return html

    def invalidate(self, *_args: Any) -> None:
        """Forget everything: called after every commit in this process."""
        with self._lock:
            self._generation += 1
            self._tables.clear()
            self._pages.clear()
