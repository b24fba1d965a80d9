"""The service on a multi-primary (Galera) database.

Three things differ from a single server, and each is handled here:

* **Certification conflicts.** Two nodes may commit writes to the same row at
  once; Galera lets the first win and answers the other's COMMIT with the
  deadlock error (1213). The losing transaction was rolled back as a whole,
  so the request is run again from the start, at most ``ATTEMPTS`` times,
  and only if it had committed nothing yet (each request commits once), so
  nothing is ever applied twice. InnoDB deadlocks on a single server are
  handled the same way.
* **Reading one's own writes on another node.** A node applies the others'
  writes asynchronously. Each connection to a Galera node sets
  ``wsrep_sync_wait = 1``, so a read first waits until the node has applied
  everything committed anywhere before it started (see the README for its
  measured cost).
* **A node that leaves.** A node that has lost the cluster still answers a
  ping but refuses statements (1047, "WSREP has not yet prepared node for
  application use"). That error, like a lost connection, is treated as a
  disconnect: the pool drops its connections and the next ones go to the
  nodes DNS still lists (only synced ones). The request is run again when
  that is safe: nothing committed and, for a lost connection, a read (GET or
  HEAD): a write whose connection broke may have been applied.

Each retried request carries ``X-DB-Retries`` (how many times it ran again),
is logged, and adds to ``bootservice_db_retries_total`` (metrics.py), so
what was absorbed is counted.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from typing import Any

from flask import (
    Flask,
    Response,
    after_this_request,
    current_app,
    g,
    has_request_context,
    request,
)
from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import sessionmaker

from . import auth, db, metrics

ATTEMPTS = 3
DEADLOCK = 1213  # ER_LOCK_DEADLOCK: certification conflict or InnoDB deadlock
NOT_READY = 1047  # ER_UNKNOWN_COM_ERROR: the node is not part of a primary cluster
CANNOT_CONNECT = 2003  # a session opens its one connection before any statement
# A connection that broke: the last statement may or may not have been applied.
CONNECTION_LOST = {2006, 2013, 2055}
SAFE_METHODS = {"GET", "HEAD"}


def _errno(exc: BaseException) -> int | None:
    orig = getattr(exc, "orig", exc)
    args = getattr(orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Only on Galera: @@wsrep_on is 1 there, 0 on a single MariaDB.
    cur = dbapi_conn.cursor()
    try:
        cur.execute("SELECT @@wsrep_on")
        (on,) = cur.fetchone()
        if on:
            cur.execute("SET SESSION wsrep_sync_wait = 1")
    finally:
        cur.close()


def _on_error(ctx: ExceptionContext) -> None:
    # A node outside the primary component answers nothing useful until it
    # rejoins: drop its connections as if it had gone away.
    if _errno(ctx.original_exception) == NOT_READY:
        ctx.is_disconnect = True


def _count_commit(_session: Any) -> None:
    if has_request_context():
        g.db_commits = g.get("db_commits", 0) + 1


def _retryable(exc: DBAPIError, committed: bool) -> bool:
    if committed:
        return False
    code = _errno(exc)
    if code in (DEADLOCK, NOT_READY, CANNOT_CONNECT):
        # Nothing of this request's transaction reached a server, or all of
        # it was rolled back.
        return True
    if code in CONNECTION_LOST or exc.connection_invalidated:
        return request.method in SAFE_METHODS
    return False


def _retry_reason(exc: DBAPIError) -> str:
    code = _errno(exc)
    if code == DEADLOCK:
        return "conflict"
    if code == NOT_READY:
        return "node_not_ready"
    if code == CANNOT_CONNECT:
        return "cannot_connect"
    return "connection_lost"


def _retries_header(resp: Response) -> Response:
    resp.headers["X-DB-Retries"] = str(g.db_retries)
    return resp


def _retrying(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def run(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(1, ATTEMPTS + 1):
            commits = g.get("db_commits", 0)
            try:
                return view(*args, **kwargs)
            except DBAPIError as exc:
                committed = g.get("db_commits", 0) != commits
                if attempt == ATTEMPTS or not _retryable(exc, committed):
                    raise
                current_app.logger.warning(
                    "database retry %d of %s %s after %s",
                    attempt,
                    request.method,
                    request.path,
                    exc.orig,
                )
                db.close_session()
                auth.forget_users()
                if "db_retries" not in g:
                    after_this_request(_retries_header)
                g.db_retries = attempt
                metrics.count_db_retry(_retry_reason(exc))
                # Spread the rerun of conflicting writers apart a little.
                time.sleep(random.uniform(0.01, 0.05) * attempt)  # noqa: S311 - jitter
        raise AssertionError("unreachable")

    return run


def init_engine(engine: Engine) -> None:
    """Connection hooks: read-your-writes on Galera, not-ready nodes dropped."""
    if engine.dialect.name != "mysql":
        return
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "handle_error", _on_error)


def install(app: Flask) -> None:
    """Run every view again on a retryable database error (call after the blueprints)."""
    factory: sessionmaker = app.extensions["db_sessionmaker"]
    event.listen(factory, "after_commit", _count_commit)
    engine = app.extensions["db_engine"]
    init_engine(engine)
    read_engine = app.extensions["read_cache"].engine
    if read_engine is not None and read_engine is not engine:
        init_engine(read_engine)
    for endpoint, view in list(app.view_functions.items()):
        if endpoint != "static":
            app.view_functions[endpoint] = _retrying(view)
