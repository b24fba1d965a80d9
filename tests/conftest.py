"""Fixtures shared by every tier."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dws.harness import Gunicorn, MariaDB

from helpers import DEMO_USER, basic_auth

# A test's tier is the folder it lives in; the marker lets `-m` pick tiers.
TIERS = ("integration", "browser", "docker", "e2e")


def pytest_collection_modifyitems(items):
    """Mark every test with the tier of its folder."""
    for item in items:
        parts = item.path.relative_to(item.config.rootpath).parts
        for tier in TIERS:
            if tier in parts:
                item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture
def auth_header() -> dict[str, str]:
    """HTTP Basic credentials of the seeded demo user."""
    return basic_auth(*DEMO_USER)


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory) -> Iterator[MariaDB]:
    """One MariaDB for the session, initialised from services/mysql/citydb.sql."""
    server = MariaDB(tmp_path_factory.mktemp("mariadb"))
    try:
        server.install()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def citydb(mariadb) -> MariaDB:
    """The session's MariaDB with citydb reset to the seed rows."""
    mariadb.reset()
    return mariadb


@pytest.fixture(scope="session")
def gunicorn(mariadb, tmp_path_factory) -> Iterator[Gunicorn]:
    """bootservice under gunicorn, connected to `mariadb` as the app user."""
    tmp = tmp_path_factory.mktemp("gunicorn")
    key = tmp / "secret_key"
    key.write_text("integration-" + "k" * 40)
    # No read cache: each test resets citydb behind the service's back, and a
    # copy up to 0.5 s old would leak one test's rows into the next.
    env = {
        **mariadb.app_env(),
        "SECRET_KEY_FILE": str(key),
        "APP_VERSION": "1.0",
        "READ_CACHE_TTL": "0",
    }
    server = Gunicorn(
        env,
        tmp / "gunicorn.log",
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def base_url(gunicorn, citydb) -> str:
    """The running service's URL, with citydb freshly reset."""
    return gunicorn.url
