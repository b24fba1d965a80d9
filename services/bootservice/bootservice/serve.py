"""`python -m bootservice.serve`: the production server, gunicorn with
bootservice.gunicorn_conf, after checking every variable gunicorn reads.

gunicorn parses WEB_CONCURRENCY itself while it is being imported, before
it loads any configuration file, and a value that is no integer ends it with
a traceback: no configuration module can catch that. Here the variables are
checked first, each problem one line naming the variable, and only then is
gunicorn imported and run. Any extra arguments are passed on to gunicorn.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from .config import ConfigError, env_int

CONFIG_MODULE = "python:bootservice.gunicorn_conf"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


@dataclass(frozen=True)
class ServerSettings:
    """What the gunicorn configuration takes from the environment."""

    port: int
    workers: int
    threads: int
    graceful_timeout: int
    shutdown_delay: int
    log_level: str


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def server_settings(env: Mapping[str, str]) -> ServerSettings:
    """The settings of `env`, or ConfigError naming the first bad variable."""
    log_level = env.get("LOG_LEVEL") or "info"
    if log_level.lower() not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
    return ServerSettings(
        port=env_int(env, "PORT", 8888, 1, 65535),
        workers=env_int(env, "WEB_CONCURRENCY", min(2 * _cpus() + 1, 8), 1, 64),
        threads=env_int(env, "GUNICORN_THREADS", 1, 1, 64),
        graceful_timeout=env_int(env, "GRACEFUL_TIMEOUT", 25, 0, 3600),
        shutdown_delay=env_int(env, "SHUTDOWN_DELAY", 0, 0, 600),
        log_level=log_level.lower(),
    )


def main(argv: list[str] | None = None) -> int:
    """Check the environment, then run gunicorn (which exits by itself)."""
    args = sys.argv[1:] if argv is None else argv
    try:
        server_settings(os.environ)
    except ConfigError as exc:
        print(f"bootservice: configuration error: {exc}", file=sys.stderr)
        return 2
    from gunicorn.app.wsgiapp import run

    sys.argv = ["gunicorn", "--config", CONFIG_MODULE, *args]
    run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
