"""Faults an operator meets: the database down or late, and a SIGTERM mid-request."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from dws.harness import Gunicorn, MariaDB
from dws.util import wait_until

from helpers import DEMO_USER, form_login

# How long a request that needs the database may take to fail when it is down.
FAIL_FAST_S = 8.0


@pytest.fixture
def own_db(tmp_path):
    """A MariaDB of this test's own, so it can be stopped and started."""
    server = MariaDB(tmp_path / "db")
    try:
        server.install()
        yield server
    finally:
        server.destroy()


def _service(db: MariaDB, tmp_path, **env) -> Gunicorn:
    key = tmp_path / "key"
    key.write_text("k" * 40)
    return Gunicorn({**db.app_env(), "SECRET_KEY_FILE": str(key), **env}, tmp_path / "g.log")


def _timed_get(url: str) -> tuple[requests.Response, float]:
    start = time.monotonic()
    resp = requests.get(url, timeout=30)
    return resp, time.monotonic() - start


def _wait_status(url: str, status: int, timeout: float) -> float:
    start = time.monotonic()
    wait_until(
        f"{url} to answer {status}",
        lambda: requests.get(url, timeout=10).status_code == status,
        timeout,
        0.2,
        error=AssertionError,
    )
    return time.monotonic() - start


def test_database_down_then_back(own_db, tmp_path):
    app = _service(own_db, tmp_path)
    app.start()
    visitor = requests.Session()
    try:
        assert requests.get(f"{app.url}/api/v1/countries/1", timeout=10).status_code == 200
        assert form_login(visitor, app.url).status_code == 302
        own_db.stop()
        time.sleep(0.6)  # past READ_CACHE_TTL: the copy of the table has expired

        resp, took = _timed_get(f"{app.url}/api/v1/countries/1")
        assert resp.status_code == 503 and took < FAIL_FAST_S
        assert resp.json()["error"] == "database unavailable"
        resp, took = _timed_get(f"{app.url}/readyz")
        assert resp.status_code == 503 and took < FAIL_FAST_S
        assert resp.json()["status"] == "unavailable" and "database" in resp.json()["reason"]
        page, took = _timed_get(f"{app.url}/countries")
        assert page.status_code == 503 and "database unavailable" in page.text
        # A logged-in visitor's page needs the database to say who they are:
        # the same 503 page (not a 500 from the error page asking again).
        page = visitor.get(f"{app.url}/countries/new", timeout=30, allow_redirects=False)
        assert page.status_code == 503 and "database unavailable" in page.text
        assert requests.get(f"{app.url}/healthz", timeout=5).status_code == 200

        own_db.start()
        # Recovers by itself: same gunicorn process, no restart.
        pid = app.proc.pid
        _wait_status(f"{app.url}/readyz", 200, 30)
        for _ in range(10):  # every worker's pool has dropped its dead connections
            resp = requests.get(f"{app.url}/api/v1/countries/1", timeout=10)
            assert resp.status_code == 200 and resp.json()["countryname"] == "Angola"
        assert app.proc.pid == pid and app.proc.poll() is None
        assert DEMO_USER[0] in visitor.get(f"{app.url}/countries/new", timeout=10).text
    finally:
        visitor.close()
        app.stop()


def test_database_not_there_at_start(own_db, tmp_path):
    own_db.stop()
    app = _service(own_db, tmp_path)
    app.start()  # waits for /healthz: the process starts without its database
    try:
        resp, took = _timed_get(f"{app.url}/readyz")
        assert resp.status_code == 503 and took < FAIL_FAST_S
        resp, took = _timed_get(f"{app.url}/api/v1/countries")
        assert resp.status_code == 503 and took < FAIL_FAST_S
        assert resp.headers["Retry-After"] == "5"
        own_db.start()
        _wait_status(f"{app.url}/readyz", 200, 30)
        assert requests.get(f"{app.url}/api/v1/countries", timeout=10).json()["total"] == 183
    finally:
        app.stop()


def test_sigterm_lets_in_flight_request_finish(own_db, tmp_path, auth_header):
    app = _service(own_db, tmp_path)
    app.start()
    result: dict = {}
    # A row lock held by another connection makes the PUT wait inside the
    # database: a real slow request, no test hook in the service.
    lock = own_db.connect()
    lock.autocommit(False)
    try:
        with lock.cursor() as cur:
            cur.execute("SELECT * FROM country WHERE id = 5 FOR UPDATE")

        def put():
            try:
                result["resp"] = requests.put(
                    f"{app.url}/api/v1/countries/5",
                    headers=auth_header,
                    timeout=30,
                    json={"countryname": "Andorra la Vella", "countrycode": "AD"},
                )
            except requests.RequestException as exc:
                result["error"] = exc

        worker = threading.Thread(target=put)
        worker.start()
        time.sleep(1.0)  # the PUT is now waiting on the lock
        app.terminate()
        time.sleep(1.0)
        assert app.proc.poll() is None, "gunicorn quit before the request finished"
        # A request that arrives now queues on the socket; it must be answered
        # before the worker exits, not reset (nginx could not retry a POST).
        late: dict = {}
        queued = threading.Thread(
            target=lambda: late.update(resp=requests.get(f"{app.url}/healthz", timeout=30))
        )
        queued.start()
        time.sleep(0.5)
        lock.rollback()
        worker.join(30)
        assert "error" not in result, result.get("error")
        assert result["resp"].status_code == 200
        assert result["resp"].json()["countryname"] == "Andorra la Vella"
        queued.join(30)
        assert late["resp"].status_code == 200
        assert app.proc.wait(30) == 0
        assert own_db.query("SELECT countryname FROM country WHERE id = 5") == (
            ("Andorra la Vella",),
        )
    finally:
        lock.close()
        app.stop()


def test_shutdown_delay_keeps_serving_after_sigterm(own_db, tmp_path):
    app = _service(own_db, tmp_path, SHUTDOWN_DELAY="3")
    app.start()
    try:
        signalled = time.monotonic()
        app.terminate()
        time.sleep(0.5)
        # Still answering while Swarm's DNS change reaches the proxies.
        assert requests.get(f"{app.url}/api/v1/countries/2", timeout=5).status_code == 200
        assert app.proc.wait(30) == 0
        assert 3.0 <= time.monotonic() - signalled < 15
        assert "serving 3s more before shutting down" in app.output()
    finally:
        app.stop()


def test_production_command_refuses_bad_configuration(tmp_path):
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "DB_HOST": "mysql", "DB_USER": "dws", "DB_PORT": "abc"}
    result = subprocess.run(
        [sys.executable, "-m", "bootservice.serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert result.stderr.strip() == (
        "bootservice: configuration error: DB_PORT must be an integer, got 'abc'"
    )
