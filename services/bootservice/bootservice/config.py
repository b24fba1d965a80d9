"""Configuration read once from the environment and validated at start.

Every setting has a default that suits `python -m bootservice` on a laptop;
production (the image, the stack) sets the database variables. Passwords and
keys come from files (Docker secrets) or, for development, from plain
variables; nothing secret has a default in code.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def make_folder(folder: Path, variable: str) -> None:
    """Create `folder` (and its parents) if missing; ConfigError naming the
    variable that chose it when it cannot be made."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"{variable}: folder {folder} cannot be created: {exc.strerror}"
        ) from None


_VERSION_RE = re.compile(r"^\d+(\.\d+){0,2}([-+.][0-9A-Za-z.-]+)?$")
_NAME_RE = re.compile(r"^[A-Za-z0-9_$-]{1,64}$")


@dataclass(frozen=True)
class Config:
    """Validated settings of one bootservice process."""

    database_url: URL
    app_version: str = "1.0"
    secret_key: str = field(default="", repr=False)
    secret_key_generated: bool = False
    # Keys signed with before the current one, still accepted: sessions and
    # CSRF tokens outlive a rotation of SECRET_KEY (docs/rotation.md).
    secret_key_fallbacks: tuple[str, ...] = field(default=(), repr=False)
    db_connect_timeout: int = 3
    db_read_timeout: int = 5
    db_pool_size: int = 5
    db_max_overflow: int = 5
    db_pool_timeout: float = 3.0
    read_cache_ttl: float = 0.5
    # How long a checked copy is used without asking again; a write to a
    # cached table waits this long before its answer (cache.py).
    read_cache_lease: float = 0.05
    idempotency_ttl: int = 24 * 3600
    page_size_max: int = 100
    max_content_length: int = 64 * 1024
    # A page session ends this long after login, whatever happens meanwhile.
    session_lifetime: int = 8 * 3600
    # X-Forwarded-For/-Proto hops to trust (nginx in the stack: 1).
    trusted_proxies: int = 0
    # Failed authentications allowed per window before 429, per account and
    # per client address; the window is also how long a block lasts at most.
    throttle_window: int = 300
    throttle_account_failures: int = 5
    throttle_address_failures: int = 20
    # Prometheus metrics (metrics.py): counted at all, and the port of their
    # own listener, which no proxy publishes.
    metrics: bool = True
    metrics_port: int = 9888

    @property
    def embedded(self) -> bool:
        """True when the service runs on its embedded SQLite default."""
        return self.database_url.get_backend_name() == "sqlite"

    @property
    def major_version(self) -> str:
        """`1.0` -> `1`: the part of the version the page title shows."""
        return self.app_version.split(".", 1)[0]


GENERATED_KEY_WARNING = (
    "SECRET_KEY_FILE is not set: a key was generated for this start only, so "
    "sessions end on restart and are not shared with other replicas"
)


def read_secret_file(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """Value of NAME_FILE (a Docker secret, trailing newline stripped) or NAME."""
    return _read_secret(os.environ if env is None else env, name)


def _read_secret(env: Mapping[str, str], name: str) -> str | None:
    path = env.get(f"{name}_FILE")
    if path:
        try:
            value = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{name}_FILE: cannot read {path}: {exc.strerror}") from exc
        value = value.rstrip("\r\n")
        if not value:
            raise ConfigError(f"{name}_FILE: {path} is empty")
        return value
    return env.get(name) or None


def env_int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """An integer variable between `low` and `high`, or ConfigError naming it."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def default_sqlite_path() -> Path:
    """Where the embedded default keeps its database file."""
    return Path.cwd() / "instance" / "citydb.sqlite3"


def check_sqlite_path(path: Path) -> Path:
    """`path` if SQLite can keep its database there, else ConfigError naming it.

    An explicit SQLITE_PATH must be in a folder that exists: a mistyped
    path should stop the start, not grow a new tree holding a new, freshly
    seeded database. (Only the default `instance/` folder is created.)
    """
    folder = path.parent
    if path.is_dir():
        problem = f"{path} is a folder, not a database file"
    elif not folder.exists():
        problem = f"folder {folder} does not exist"
    elif not folder.is_dir():
        problem = f"{folder} is not a folder"
    elif not os.access(folder, os.W_OK | os.X_OK):
        # SQLite writes its journal beside the file.
        problem = f"folder {folder} is not writable"
    elif path.exists() and not os.access(path, os.R_OK | os.W_OK):
        problem = f"{path} is not writable"
    else:
        return path
    raise ConfigError(f"SQLITE_PATH: {problem}")


def _database_url(env: Mapping[str, str]) -> URL:
    raw = env.get("DATABASE_URL")
    if raw:
        try:
            url = make_url(raw)
        except ArgumentError:
            raise ConfigError("DATABASE_URL is not a valid database URL") from None
        if url.get_backend_name() not in ("mysql", "sqlite"):
            raise ConfigError(
                f"DATABASE_URL: unsupported database {url.get_backend_name()!r} "
                "(use mysql+pymysql://... or sqlite:///...)"
            )
        if url.get_backend_name() == "mysql":
            url = url.set(drivername="mysql+pymysql")
            password = _read_secret(env, "DB_PASSWORD")
            if password is not None and url.password is None:
                url = url.set(password=password)
        return url

    host = env.get("DB_HOST")
    if not host:
        raw = env.get("SQLITE_PATH")
        path = check_sqlite_path(Path(raw)) if raw else default_sqlite_path()
        return URL.create("sqlite+pysqlite", database=str(path))

    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,253}", host):
        raise ConfigError(f"DB_HOST is not a host name or address: {host!r}")
    name = env.get("DB_NAME", "citydb")
    if not _NAME_RE.fullmatch(name):
        raise ConfigError(f"DB_NAME is not a valid database name: {name!r}")
    user = env.get("DB_USER")
    if not user:
        raise ConfigError("DB_USER is required when DB_HOST is set")
    if len(user) > 80:
        raise ConfigError("DB_USER is longer than 80 characters")
    return URL.create(
        "mysql+pymysql",
        username=user,
        password=_read_secret(env, "DB_PASSWORD"),
        host=host,
        port=env_int(env, "DB_PORT", 3306, 1, 65535),
        database=name,
        query={"charset": "utf8mb4"},
    )


def _key_fallbacks(env: Mapping[str, str], key: str) -> tuple[str, ...]:
    """SECRET_KEY_FALLBACKS(_FILE): earlier keys, one per line, each at least
    16 characters; the current key and repeats are dropped."""
    raw = _read_secret(env, "SECRET_KEY_FALLBACKS")
    found: list[str] = []
    for number, line in enumerate((raw or "").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if len(line) < 16:
            raise ConfigError(f"SECRET_KEY_FALLBACKS: key {number} is shorter than 16 characters")
        if line != key and line not in found:
            found.append(line)
    return tuple(found)


def load_config(env: Mapping[str, str] | None = None, **overrides: Any) -> Config:
    """Build the Config from `env` (default: os.environ), then `overrides`.

    Raises ConfigError with a message naming the offending variable.
    """
    env = os.environ if env is None else env
    version = env.get("APP_VERSION", "1.0")
    if not _VERSION_RE.fullmatch(version):
        raise ConfigError(f"APP_VERSION must look like 1.0 or 2.0, got {version!r}")

    key = _read_secret(env, "SECRET_KEY")
    generated = key is None
    if generated:
        # Development only: sessions do not survive a restart and are not
        # shared between processes. The stack passes SECRET_KEY_FILE.
        key = secrets.token_hex(32)
    elif len(key) < 16:
        raise ConfigError("SECRET_KEY must be at least 16 characters")

    fallbacks = _key_fallbacks(env, key)

    raw_ttl = env.get("READ_CACHE_TTL", "0.5")
    try:
        ttl = float(raw_ttl)
    except ValueError:
        raise ConfigError(f"READ_CACHE_TTL must be a number of seconds, got {raw_ttl!r}") from None
    # Reads may lag writes made through other replicas by up to the TTL; the
    # project promises 1 s.
    if not 0 <= ttl <= 1:
        raise ConfigError(f"READ_CACHE_TTL must be between 0 and 1 second, got {raw_ttl!r}")

    raw_lease = env.get("READ_CACHE_LEASE", "0.05")
    try:
        lease = float(raw_lease)
    except ValueError:
        raise ConfigError(
            f"READ_CACHE_LEASE must be a number of seconds, got {raw_lease!r}"
        ) from None
    # Every write to a cached table is held this long: keep it short.
    if not 0 <= lease <= 0.5:
        raise ConfigError(f"READ_CACHE_LEASE must be between 0 and 0.5 s, got {raw_lease!r}")

    raw_metrics = env.get("METRICS") or "1"
    if raw_metrics not in ("0", "1"):
        raise ConfigError(f"METRICS must be 0 or 1, got {raw_metrics!r}")

    values: dict[str, Any] = dict(
        read_cache_ttl=ttl,
        read_cache_lease=lease,
        database_url=_database_url(env),
        app_version=version,
        secret_key=key,
        secret_key_generated=generated,
        secret_key_fallbacks=fallbacks,
        db_connect_timeout=env_int(env, "DB_CONNECT_TIMEOUT", 3, 1, 60),
        db_read_timeout=env_int(env, "DB_READ_TIMEOUT", 5, 1, 600),
        db_pool_size=env_int(env, "DB_POOL_SIZE", 5, 1, 100),
        db_max_overflow=env_int(env, "DB_MAX_OVERFLOW", 5, 0, 100),
        session_lifetime=env_int(env, "SESSION_LIFETIME", 8 * 3600, 60, 30 * 86400),
        trusted_proxies=env_int(env, "TRUSTED_PROXIES", 0, 0, 5),
        throttle_window=env_int(env, "THROTTLE_WINDOW", 300, 1, 86400),
        throttle_account_failures=env_int(env, "THROTTLE_ACCOUNT_FAILURES", 5, 1, 1000),
        throttle_address_failures=env_int(env, "THROTTLE_ADDRESS_FAILURES", 20, 1, 100000),
        idempotency_ttl=env_int(env, "IDEMPOTENCY_TTL", 24 * 3600, 1, 7 * 24 * 3600),
        metrics=raw_metrics == "1",
        metrics_port=env_int(env, "METRICS_PORT", 9888, 1, 65535),
    )
    values.update(overrides)
    if isinstance(values["database_url"], str):
        values["database_url"] = make_url(values["database_url"])
    return Config(**values)
