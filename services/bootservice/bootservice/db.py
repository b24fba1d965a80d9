"""The engine, the per-request session, and the embedded SQLite default.

The engine is built so that a database that is down or slow costs a request
a few seconds at most, never a hang, and so that the service recovers by
itself when the database comes back: connect and read timeouts, a bounded
wait for a pooled connection, and a pre-ping that drops dead connections.
"""

from __future__ import annotations

import fcntl
import os
import time
import weakref
from pathlib import Path

from flask import Flask, Response, current_app, g, has_request_context
from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from .cache import HOLD_ANSWER, ReadCache
from .config import Config
from .models import Country
from .seed import load_seed


def make_engine(config: Config) -> Engine:
    """Create the engine for `config.database_url` with bounded waits."""
    url = config.database_url
    if config.embedded:
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        return create_engine(url, connect_args={"timeout": config.db_read_timeout})
    return create_engine(url, pool_pre_ping=True, **_server_pool(config))


def _server_pool(config: Config) -> dict:
    """Pool size and bounded waits of every engine on a server database."""
    return {
        "pool_size": config.db_pool_size,
        "max_overflow": config.db_max_overflow,
        "pool_timeout": config.db_pool_timeout,
        # MySQL closes idle connections after wait_timeout; recycle earlier.
        "pool_recycle": 1800,
        "connect_args": {
            "connect_timeout": config.db_connect_timeout,
            "read_timeout": config.db_read_timeout,
            "write_timeout": config.db_read_timeout,
        },
    }


def make_read_engine(config: Config, engine: Engine) -> Engine:
    """The engine the read cache uses for table counters and copies.

    On a server database: its own pool of connections in autocommit mode,
    without a ping before each use. A cached read is then one statement and
    one round trip; through `engine` it is four (ping, query, the session's
    rollback and the pool's), each a wait for the database and, on a busy
    machine, for the CPU again. Autocommit needs no rollback, and every
    statement sees the newest committed counter. A dead connection is
    retried once on a fresh one by the cache (its reads are safe to repeat).
    The embedded SQLite reads through `engine`: no network to save.
    """
    if config.embedded:
        return engine
    return create_engine(
        config.database_url,
        isolation_level="AUTOCOMMIT",
        skip_autocommit_rollback=True,
        **_server_pool(config),
    )


def ensure_embedded_schema(engine: Engine) -> bool:
    """Bring the SQLite schema to the newest revision and load the seed rows once.

    Returns True when it loaded the seed (a new database file). Several
    processes (gunicorn workers) may start at once on a new file: a lock
    file makes one of them create and seed it while the others wait.
    """
    database = engine.url.database
    lock_path = f"{database}.lock" if database and database != ":memory:" else None
    with open(lock_path or os.devnull, "w") as lock:
        if lock_path:
            fcntl.flock(lock, fcntl.LOCK_EX)
        # Imported here: the migrations import the models, not the app.
        from .migrate import upgrade

        upgrade(engine)
        with engine.begin() as conn:
            if conn.execute(select(func.count()).select_from(Country.__table__)).scalar_one():
                return False
            load_seed(conn)
    return True


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
    _hold_answers_to_cached_writes(app, factory, cache)


def _hold_answers_to_cached_writes(app: Flask, factory: sessionmaker, cache: ReadCache) -> None:
    """A request that committed a write to a cached table answers only once
    the read cache's lease has run out after the commit (see cache.py)."""

    @event.listens_for(factory, "after_commit")
    def _committed(sess: Session) -> None:
        if sess.info.pop(HOLD_ANSWER, False) and has_request_context():
            cache.recheck()
            hold_answer(time.monotonic())

    @app.after_request
    def _hold(resp: Response) -> Response:
        until = g.pop("answer_not_before", None)
        if until is not None:
            time.sleep(max(0.0, until - time.monotonic()))
        return resp


def hold_answer(committed: float) -> None:
    """Hold this request's answer for the read cache's lease after
    `committed` (a monotonic time): a write of a cached table committed then."""
    until = read_cache().hold_until(committed)
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
