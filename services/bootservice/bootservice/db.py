"""The app's database: its engines and read cache attached at start, the
per-request session, and the answers held for the read cache's lease.

How the engines are built is engine.py; the embedded SQLite default's
schema and seed, embedded.py.
"""

from __future__ import annotations

import os
import time
import weakref

from flask import Flask, Response, after_this_request, current_app, g, has_request_context
from sqlalchemy import Engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from .cache import ReadCache
from .config import Config
from .embedded import ensure_embedded_schema
from .engine import make_engine, make_read_engine
from .versions import HOLD_ANSWER


def _forget_pool_after_fork(engine: Engine) -> None:
    """A forked child (a gunicorn worker of a preloaded app) must never use
    a connection its parent opened: the two would talk over one socket. The
    child drops the inherited pool without closing the parent's connections.
    A weak reference, so that an engine nobody uses any more can go."""
    ref = weakref.ref(engine)

    def after_fork() -> None:
        alive = ref()
        if alive is not None:
            alive.dispose(close=False)

    os.register_at_fork(after_in_child=after_fork)


def init_app(app: Flask, config: Config) -> None:
    """Attach the engine and session factory to `app`."""
    engine = make_engine(config)
    _forget_pool_after_fork(engine)
    if config.embedded:
        ensure_embedded_schema(engine)
    factory = sessionmaker(engine, expire_on_commit=False)
    cache = ReadCache(
        config.read_cache_ttl, make_read_engine(config, engine), config.read_cache_lease
    )
    app.extensions["db_engine"] = engine
    app.extensions["db_sessionmaker"] = factory
    app.extensions["read_cache"] = cache
    app.teardown_appcontext(close_session)
    _hold_answers_to_cached_writes(factory, cache)


def _hold_answers_to_cached_writes(factory: sessionmaker, cache: ReadCache) -> None:
    """A request that committed a write to a cached table answers only once
    the read cache's lease has run out after the commit (see cache.py)."""

    @event.listens_for(factory, "after_commit")
    def _committed(sess: Session) -> None:
        if sess.info.pop(HOLD_ANSWER, False) and has_request_context():
            cache.recheck()
            hold_answer(time.monotonic())


def _hold(resp: Response) -> Response:
    until = g.pop("answer_not_before", None)
    if until is not None:
        time.sleep(max(0.0, until - time.monotonic()))
    return resp


def hold_answer(committed: float) -> None:
    """Hold this request's answer for the read cache's lease after
    `committed` (a monotonic time): a write of a cached table committed then.
    Only such requests pay for the hook that waits."""
    until = read_cache().hold_until(committed)
    if "answer_not_before" not in g:
        after_this_request(_hold)
    g.answer_not_before = max(until, g.get("answer_not_before", until))


def read_cache() -> ReadCache:
    """The current app's read cache."""
    return current_app.extensions["read_cache"]


def engine() -> Engine:
    """The engine of the current app."""
    return current_app.extensions["db_engine"]


def session() -> Session:
    """The session of the current request, opened on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["db_sessionmaker"]()
    return g.db_session


def close_session(_exc: BaseException | None = None) -> None:
    """Close the request's session, rolling back what was not committed."""
    sess = g.pop("db_session", None)
    if sess is not None:
        try:
            sess.close()
        except DBAPIError:
            # The connection died under the request (the database went
            # away): it cannot be rolled back, only dropped from the pool.
            sess.invalidate()
