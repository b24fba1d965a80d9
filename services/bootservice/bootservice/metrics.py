"""Prometheus metrics: what the service counts, and the listener serving them.

**Where.** `GET /metrics` on a port of its own (`METRICS_PORT`, 9888),
answered by a small HTTP server on a thread of the gunicorn master (`serve`,
started once the master is ready, before it forks the first worker; in
development `python -m bootservice` starts one beside its server). nginx
proxies only the application's port, so no address of the site leads here,
and the request path is unchanged: each worker keeps its one listening
socket, and no request is asked which port it came on. The master answers a
scrape even while every worker is busy or stuck, which is when the figures
matter most. The thread only reads files and answers sockets: it holds no
lock that a worker forked meanwhile could inherit, held, and wait for.
(docs/monitoring.md weighs the other places.)

**Several processes.** Each gunicorn worker is a process. In
prometheus_client's multiprocess mode every process writes its values to
memory-mapped files of its own in `PROMETHEUS_MULTIPROC_DIR`, and a scrape
adds the files up: counters and histograms of every process since the master
started (a restarted worker's counts stay), gauges of the live processes
only (`worker_exited` removes a dead worker's). The gunicorn master empties
the folder when it starts (`prepare_directory`). Without the variable
(`python -m bootservice`, the unit tests) the values live in the process.

prometheus_client chooses between the two when it is first imported, and
gunicorn_conf.py can name the folder only after this package has been
imported: so prometheus_client is imported inside the functions below, never
at the top of a module of the package.

**Cost.** A request costs a wrapper around `start_response`, one lookup of
its label children (cached by route, method and status), a counter
increment, a histogram observation and the in-flight gauge's two changes; a
read-cache hit one increment more. Nothing else is counted per request, and
`METRICS=0` builds none of it.
"""

from __future__ import annotations

import math
import os
import socketserver
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterable, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from flask import Flask, current_app, has_app_context
from sqlalchemy import Engine, event
from sqlalchemy.pool import QueuePool

from .config import Config, make_folder
from .middleware import WSGIApp

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge

EXTENSION = "metrics"
# Seconds: an answer from the worker's copy of a table takes about a
# millisecond, one that waits for an unreachable database up to 8 s
# (DB_CONNECT_TIMEOUT + DB_READ_TIMEOUT).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# The method is the client's to choose: any other is counted as "other".
METHODS = {name: name for name in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")}
OTHER_METHOD = "other"
# The route of a request that matched no rule (an unknown path, a method the
# path does not take): never the path itself, which the client chooses.
UNMATCHED = "unmatched"
# galera._retry_reason's answers: each shown from the start, at 0.
DB_RETRY_REASONS = ("conflict", "node_not_ready", "cannot_connect", "connection_lost")


class Metrics:
    """The service's metric objects, in a registry of the app's own (the unit
    tests build many apps in one process)."""

    def __init__(self, multiprocess: bool) -> None:
        from prometheus_client import (
            CollectorRegistry,
            Counter,
            Gauge,
            Histogram,
            disable_created_metrics,
        )

        # The `_created` series exist only in single-process mode: without
        # them both modes expose the same.
        disable_created_metrics()
        self.multiprocess = multiprocess
        self.registry: CollectorRegistry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "bootservice_http_requests_total",
            "Requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.durations = Histogram(
            "bootservice_http_request_duration_seconds",
            "Time the application took to answer, by route template and method.",
            ["route", "method"],
            buckets=BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "bootservice_http_requests_in_flight",
            "Requests being answered now.",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.pool_checked_out = Gauge(
            "bootservice_db_pool_checked_out",
            "Database connections checked out of the pools now, by pool.",
            ["pool"],
            multiprocess_mode="livesum",
            registry=r,
        )
        self.pool_limit = Gauge(
            "bootservice_db_pool_limit",
            "The most connections the pools may check out at once, by pool "
            "(DB_POOL_SIZE + DB_MAX_OVERFLOW of each worker, summed).",
            ["pool"],
            multiprocess_mode="livesum",
            registry=r,
        )
        self.cache_hits = Counter(
            "bootservice_read_cache_hits_total",
            "Reads answered from the worker's copy of a table, by table.",
            ["table"],
            registry=r,
        )
        self.cache_checks = Counter(
            "bootservice_read_cache_checks_total",
            "Reads of a table's write counter (a round trip), by table.",
            ["table"],
            registry=r,
        )
        self.cache_reloads = Counter(
            "bootservice_read_cache_reloads_total",
            "Copies of a table read again from the database, by table.",
            ["table"],
            registry=r,
        )
        self.db_retries = Counter(
            "bootservice_db_retries_total",
            "Requests run again after a retryable database error, by reason.",
            ["reason"],
            registry=r,
        )
        for reason in DB_RETRY_REASONS:
            self.db_retries.labels(reason)
        self.throttled = Counter(
            "bootservice_auth_throttled_total",
            "Authentications refused with 429 while an account or address is blocked.",
            registry=r,
        )
        self.replays = Counter(
            "bootservice_idempotent_replays_total",
            "POSTs answered with the stored response of their Idempotency-Key.",
            registry=r,
        )
        self.workers = Gauge(
            "bootservice_workers",
            "Processes serving requests.",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.worker_restarts = Counter(
            "bootservice_worker_restarts_total",
            "Workers that exited while gunicorn went on serving, and were replaced.",
            registry=r,
        )
        # Gauges whose value is this process's own (set again in a fork).
        self._held: list[tuple[Gauge, float]] = []

    def hold(self, gauge: Gauge, value: float) -> None:
        """Set `gauge` to `value` in this process and in every process forked from it."""
        gauge.set(value)
        self._held.append((gauge, value))

    def after_fork(self) -> None:
        """In a new worker: its own copies of the held gauges."""
        for gauge, value in self._held:
            gauge.set(value)

    def watch_pool(self, engine: Engine, pool: str) -> None:
        """Count `engine`'s checked-out connections, and hold its limit."""
        checked_out = self.pool_checked_out.labels(pool)

        def _out(_dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
            checked_out.inc()

        def _in(_dbapi_connection: Any, _record: Any) -> None:
            checked_out.dec()

        # On the engine, not its pool: a worker replaces the pool it inherits
        # (db.py), and the new one keeps the engine's listeners.
        event.listen(engine, "checkout", _out)
        event.listen(engine, "checkin", _in)
        limit = pool_limit(engine)
        if limit is not None:
            self.hold(self.pool_limit.labels(pool), limit)

    def cache_recorder(self) -> Callable[[str, str], None]:
        """The read cache's `record(table, what)`, `what` one of hit, check, reload."""
        counters = {
            "hit": self.cache_hits,
            "check": self.cache_checks,
            "reload": self.cache_reloads,
        }
        children: dict[tuple[str, str], Counter] = {}

        def record(table: str, what: str) -> None:
            child = children.get((table, what))
            if child is None:
                child = children[(table, what)] = counters[what].labels(table)
            child.inc()

        return record


def pool_limit(engine: Engine) -> float | None:
    """How many connections `engine`'s pool hands out at most; None for a
    pool without a limit of that kind (SQLite's in-memory database)."""
    pool = engine.pool
    if not isinstance(pool, QueuePool):
        return None
    # SQLAlchemy has a public size() but keeps the overflow limit private.
    overflow = pool._max_overflow
    return math.inf if overflow < 0 else float(pool.size() + overflow)


class RequestMetrics:
    """WSGI middleware: count each request by route template, method and
    status, and time it."""

    def __init__(self, app: WSGIApp, metrics: Metrics) -> None:
        self.app = app
        self.requests = metrics.requests
        self.durations = metrics.durations
        self.in_flight = metrics.in_flight
        self.children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def __call__(self, wsgi_environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        route = UNMATCHED
        status = "500"  # what the server answers when the app raises

        def start(status_line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            nonlocal route, status
            status = status_line[:3]
            # Flask's request is still current here, and no longer once the
            # app has returned.
            request = wsgi_environ.get("werkzeug.request")
            rule = request.url_rule if request is not None else None
            if rule is not None:
                route = rule.rule
            return start_response(status_line, headers, exc_info)

        self.in_flight.inc()
        started = time.perf_counter()
        try:
            return self.app(wsgi_environ, start)
        finally:
            elapsed = time.perf_counter() - started
            self.in_flight.dec()
            key = (route, METHODS.get(wsgi_environ["REQUEST_METHOD"], OTHER_METHOD), status)
            children = self.children.get(key)
            if children is None:
                children = self.children[key] = (
                    self.requests.labels(*key),
                    self.durations.labels(route, key[1]),
                )
            children[0].inc()
            children[1].observe(elapsed)


def init_app(app: Flask, config: Config) -> None:
    """Count the app's requests, pools and events (call last in create_app:
    it wraps the finished app). Nothing at all when METRICS=0."""
    if not config.metrics:
        return
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        # The library writes there from the first value on.
        Path(directory).mkdir(parents=True, exist_ok=True)
    metrics = Metrics(multiprocess=bool(directory))
    app.extensions[EXTENSION] = metrics
    metrics.hold(metrics.workers, 1)
    engine = app.extensions["db_engine"]
    metrics.watch_pool(engine, "main")
    cache = app.extensions["read_cache"]
    if cache.engine is not None and cache.engine is not engine:
        metrics.watch_pool(cache.engine, "read")
    cache.record = metrics.cache_recorder()
    app.wsgi_app = RequestMetrics(app.wsgi_app, metrics)  # type: ignore[method-assign]
    if metrics.multiprocess:
        ref = weakref.ref(metrics)

        def after_fork() -> None:
            alive = ref()
            if alive is not None:
                alive.after_fork()

        os.register_at_fork(after_in_child=after_fork)


def of(app: Any) -> Metrics | None:
    """`app`'s metrics; None when it was built with METRICS=0, or is another
    WSGI app (the benchmark runs its comparison apps under gunicorn_conf.py)."""
    return getattr(app, "extensions", {}).get(EXTENSION)


def _current() -> Metrics | None:
    return of(current_app) if has_app_context() else None


def count_db_retry(reason: str) -> None:
    """One request run again after a database error (galera.py)."""
    metrics = _current()
    if metrics is not None:
        metrics.db_retries.labels(reason).inc()


def count_throttled() -> None:
    """One authentication refused while blocked (throttle.py)."""
    metrics = _current()
    if metrics is not None:
        metrics.throttled.inc()


def count_idempotent_replay() -> None:
    """One POST answered with its key's stored response (idempotency.py)."""
    metrics = _current()
    if metrics is not None:
        metrics.replays.inc()


# ------------------------------------------------------------ the gunicorn master


def prepare_directory(env: MutableMapping[str, str]) -> Path | None:
    """The multiprocess directory of a gunicorn master that is starting,
    emptied of an earlier run's files. Returns it when it is the master's
    own: a folder in the temporary folder, named in `env` for the library
    and the workers, for when PROMETHEUS_MULTIPROC_DIR is not set (the
    caller removes it at exit); None for the variable's.

    Raises ConfigError naming the variable when its folder cannot be made.
    """
    raw = env.get("PROMETHEUS_MULTIPROC_DIR")
    if raw:
        path = Path(raw)
        make_folder(path, "PROMETHEUS_MULTIPROC_DIR")
        own = None
    else:
        # Made by the app when it writes its first value (init_app), so
        # that a configuration only read (tests) leaves nothing behind.
        path = own = Path(tempfile.gettempdir()) / f"bootservice-metrics-{os.getpid()}"
        env["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    if path.is_dir():
        # Only the library's files: the variable may name a shared folder.
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)
    return own


def master_ready(app: Any) -> None:
    """The gunicorn master, its app loaded, before it forks the workers: its
    own gauges (set while it built the app) are no worker's."""
    metrics = of(app)
    if metrics is not None and metrics.multiprocess:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())


def worker_exited(app: Any, pid: int, replaced: bool) -> None:
    """In the gunicorn master: worker `pid` has exited. Its gauges go; its
    counts stay. `replaced`: gunicorn goes on serving and starts another."""
    metrics = of(app)
    if metrics is None:
        return
    if metrics.multiprocess:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
    if replaced:
        metrics.worker_restarts.inc()


# ------------------------------------------------------------ the listener


def exposition_app(app: Flask) -> WSGIApp:
    """The metrics listener's WSGI app: the exposition at /metrics, 404 elsewhere."""
    from prometheus_client import CollectorRegistry, make_wsgi_app
    from prometheus_client.multiprocess import MultiProcessCollector

    metrics = of(app)
    if metrics is None:
        raise ValueError("the app was built with METRICS=0")
    registry = metrics.registry
    if metrics.multiprocess:
        # Every process's files, read at each scrape.
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=os.environ["PROMETHEUS_MULTIPROC_DIR"])
    exposition = make_wsgi_app(registry)

    def answer(wsgi_environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if wsgi_environ.get("PATH_INFO") == "/metrics":
            return exposition(wsgi_environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found: the metrics are at /metrics\n"]

    return answer


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        # A scrape every few seconds is not worth a log line each.
        pass


def _listener_class() -> type[WSGIServer]:
    from prometheus_client.exposition import ThreadingWSGIServer

    class Listener(ThreadingWSGIServer):
        def server_bind(self) -> None:
            # HTTPServer's own asks DNS for the host's name, only to fill in
            # SERVER_NAME: a wait before the master forks its workers.
            socketserver.TCPServer.server_bind(self)
            self.server_name, self.server_port = self.server_address[:2]
            self.setup_environ()

    return Listener


def serve(app: Flask, host: str, port: int) -> WSGIServer:
    """Serve `app`'s metrics on host:port from a daemon thread of this
    process; OSError when it cannot listen there."""
    server = make_server(
        host, port, exposition_app(app), _listener_class(), handler_class=_QuietHandler
    )
    # A forked worker closes its copy of the listening socket: the port is
    # this process's alone, and is free as soon as it exits.
    os.register_at_fork(after_in_child=server.socket.close)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
