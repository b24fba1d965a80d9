"""Production gunicorn settings: `gunicorn --config python:bootservice.gunicorn_conf`,
started by `python -m bootservice.serve` (serve.py says why).

Settings come from the environment (PORT, WEB_CONCURRENCY, GUNICORN_THREADS,
GRACEFUL_TIMEOUT, SHUTDOWN_DELAY, LOG_LEVEL: serve.py); the service's
own configuration is validated here, in the master, so that a bad variable
stops the start with one clear line instead of failing every worker. The
master also serves the Prometheus metrics on METRICS_PORT (metrics.py).
"""

from __future__ import annotations

import gc
import os
import shutil
import sys
import time

from bootservice import metrics
from bootservice.config import GENERATED_KEY_WARNING, ConfigError, load_config
from bootservice.engine import sqlite_folder
from bootservice.serve import server_settings


def _stop(exc: ConfigError) -> None:
    """One line naming the variable, then out: gunicorn would print a
    traceback for an exception raised here, but lets SystemExit through."""
    print(f"bootservice: configuration error: {exc}", file=sys.stderr)
    sys.exit(2)


try:
    _server = server_settings(os.environ)
    _config = load_config()
    # The master loads the application (preload_app): a folder that cannot
    # be made would otherwise stop it with the traceback of create_app().
    sqlite_folder(_config)
    _metrics_dir = None
    if _config.metrics:
        if _config.metrics_port == _server.port:
            raise ConfigError(f"METRICS_PORT must differ from PORT ({_server.port})")
        # Before the app is loaded, which writes the first values there
        # (metrics.py); None unless the folder is this master's own.
        _metrics_dir = metrics.prepare_directory(os.environ)
except ConfigError as exc:
    _stop(exc)

if _config.secret_key_generated:
    # The key the configuration generated, handed to every worker: a login
    # made on one worker must hold on the next. Replicas need SECRET_KEY_FILE.
    os.environ["SECRET_KEY"] = _config.secret_key
    print(f"bootservice: warning: {GENERATED_KEY_WARNING}", file=sys.stderr)

wsgi_app = "bootservice:create_app()"
bind = [f"0.0.0.0:{_server.port}"]
workers = _server.workers
threads = _server.threads
# Slow clients are nginx's job (it buffers), so plain sync workers suffice.
worker_class = "gthread" if threads > 1 else "sync"
# The master loads the application once and forks ready workers: a new
# replica answers sooner, and its workers share the loaded code's memory.
# (Each worker drops the database pool it inherits: bootservice.db.)
preload_app = True
timeout = 30
# On SIGTERM gunicorn stops accepting and lets in-flight requests finish for
# this long; the stack's stop_grace_period is longer.
graceful_timeout = _server.graceful_timeout
keepalive = 5
# The heartbeat file lives in memory: works with a read-only root filesystem.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# Seconds to keep serving after SIGTERM before closing the listening socket.
# Swarm drops a stopping task from its DNS before signalling it, but nginx may
# still hold the address for its resolver validity (1 s); serving through that
# window means no request is sent to a socket that is about to close.
shutdown_delay = _server.shutdown_delay


def on_starting(server) -> None:  # noqa: ANN001 - gunicorn's Arbiter
    """Delay the master's SIGTERM handling by `shutdown_delay` seconds."""
    if shutdown_delay <= 0:
        return
    handle_term = server.handle_term

    def delayed_term() -> None:
        server.log.info("SIGTERM: serving %ss more before shutting down", shutdown_delay)
        time.sleep(shutdown_delay)
        handle_term()

    server.handle_term = delayed_term


def pre_fork(server, worker) -> None:  # noqa: ANN001 - gunicorn's objects
    """Hide what the master has loaded (the preloaded app) from the garbage
    collector before each fork. A worker's collections then walk only the
    objects it made itself: less CPU per request, and the pages it shares
    with the master stay shared instead of being copied when walked."""
    gc.collect()
    gc.freeze()


def when_ready(server) -> None:  # noqa: ANN001 - gunicorn's Arbiter
    """Serve the metrics from the master, before the first worker is
    forked (metrics.py says why there)."""
    app = server.app.wsgi()
    # Asked of the app, not of METRICS: an app spec may build it without
    # (`bootservice:create_app(metrics=False)`, a benchmark's candidate).
    if metrics.of(app) is None:
        return
    metrics.master_ready(app)
    try:
        metrics.serve(app, "0.0.0.0", _config.metrics_port)
    except OSError as exc:
        # The application still serves; Prometheus shows this target down.
        server.log.warning(
            "metrics: cannot listen on port %s (%s): no metrics from this instance",
            _config.metrics_port,
            exc.strerror,
        )
        return
    server.log.info("Metrics at: http://0.0.0.0:%s/metrics", _config.metrics_port)


def child_exit(server, worker) -> None:  # noqa: ANN001 - gunicorn's objects
    """In the master, for each worker that has exited: its live gauges go,
    and one that exits while gunicorn still listens (a timeout, a crash, an
    out-of-memory kill, a reload) counts as a restart. On shutdown gunicorn
    closes its listeners before it stops the workers."""
    metrics.worker_exited(server.app.wsgi(), worker.pid, replaced=bool(server.LISTENERS))


def on_exit(server) -> None:  # noqa: ANN001 - gunicorn's Arbiter
    """Remove the master's own metrics folder (none when the variable names one)."""
    if _metrics_dir is not None:
        shutil.rmtree(_metrics_dir, ignore_errors=True)


def post_worker_init(worker) -> None:  # noqa: ANN001 - gunicorn's Worker
    """Log the moment a worker has the application loaded and starts accepting:
    `dws replay` measures a replica's start-up from this line."""
    worker.log.info("worker ready (pid %s)", worker.pid)


def worker_exit(server, worker) -> None:  # noqa: ANN001 - gunicorn's objects
    """Answer the connections still queued on the listening socket, then close it.

    A stopping sync worker leaves the loop after its last request, but the
    kernel goes on queueing connections on the socket it shares until the
    process is gone, and then resets them. nginx has already sent a request on
    each of those and may not retry a POST, so it would become a 502: serve
    them instead. (Swarm does not take a task out of DNS before `docker stop`.)
    """
    if worker_class != "sync":
        return
    for listener in worker.sockets:
        try:
            listener.setblocking(False)
        except OSError:  # already closed
            continue
        while True:
            try:
                client, addr = listener.accept()
            except OSError:  # queue empty (BlockingIOError) or socket closed
                break
            client.setblocking(True)
            worker.handle(listener, client, addr)
        listener.close()


# gunicorn 27's control socket lives under $HOME, which the image's user
# does not have; nothing here uses it.
control_socket_disable = True

# Request-size limits above nginx's (4 KiB line and header, nginx.conf): an
# oversized request is refused by nginx with the JSON error shape and never
# meets gunicorn's own HTML error page.
limit_request_line = 8190
limit_request_fields = 32768
limit_request_field_size = 8190

accesslog = "-"
errorlog = "-"
loglevel = _server.log_level
# One line per request: client, method, path, status, bytes, duration,
# which instance served it (the X-Served-By header the app sets) and the
# X-Request-ID nginx passes (`-` without one), to join the proxies' logs.
access_log_format = (
    '%(h)s "%(r)s" %(s)s %(B)s %(M)sms instance=%({x-served-by}o)s version=%({x-app-version}o)s'
    " request_id=%({x-request-id}i)s"
)
