"""The engines: one per process for the sessions, one for the read cache.

Built so that a database that is down or slow costs a request a few seconds
at most, never a hang, and so that the service recovers by itself when the
database comes back: connect and read timeouts, a bounded wait for a pooled
connection, and a pre-ping that drops dead connections.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine

from .config import Config, make_folder


def sqlite_folder(config: Config) -> Path | None:
    """The folder of the embedded database file, created when missing (the
    default `instance/`); None when there is no file (`:memory:`, a server).

    An explicit SQLITE_PATH was checked by the configuration: its folder
    exists. Raises ConfigError naming the folder when it cannot be made.
    """
    url = config.database_url
    if not config.embedded or not url.database or url.database == ":memory:":
        return None
    folder = Path(url.database).parent
    make_folder(folder, "SQLITE_PATH")
    return folder


def make_engine(config: Config) -> Engine:
    """Create the engine for `config.database_url` with bounded waits."""
    if config.embedded:
        sqlite_folder(config)
        return create_engine(config.database_url, connect_args={"timeout": config.db_read_timeout})
    return create_engine(config.database_url, pool_pre_ping=True, **_server_pool(config))


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
