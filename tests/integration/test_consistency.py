"""Across gunicorn workers on MariaDB: racing writes, read-your-writes with
the read cache on, sessions and throttling that every worker agrees on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from threading import Barrier

import pytest
import requests

from dws.harness import Gunicorn

from helpers import DEMO_ORDINARY, DEMO_USER, basic_auth, csrf_of, form_login

ADMIN = basic_auth(*DEMO_USER)


@pytest.fixture(scope="module")
def cached(mariadb, tmp_path_factory) -> Iterator[Gunicorn]:
    """bootservice with 3 workers and the read cache on (its longest TTL)."""
    tmp = tmp_path_factory.mktemp("cached")
    key = tmp / "secret_key"
    key.write_text("consistency-" + "k" * 40)
    env = {**mariadb.app_env(), "SECRET_KEY_FILE": str(key), "READ_CACHE_TTL": "1"}
    server = Gunicorn(env, tmp / "gunicorn.log", workers=3)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def _new_country(base: str, name: str) -> int:
    resp = requests.post(
        f"{base}/api/v1/countries",
        json={"countryname": name, "countrycode": "RC"},
        headers=ADMIN,
        timeout=10,
    )
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


def _race(calls) -> list[int]:
    barrier = Barrier(len(calls))

    def run(call):
        barrier.wait()
        return call().status_code

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_put_racing_delete_never_5xx(base_url, citydb, gunicorn):
    for round_ in range(5):
        row = _new_country(base_url, f"race-{round_}")
        url = f"{base_url}/api/v1/countries/{row}"
        put = partial(
            requests.put,
            url,
            json={"countryname": "raced", "countrycode": "RP"},
            headers=ADMIN,
            timeout=10,
        )
        delete = partial(requests.delete, url, headers=ADMIN, timeout=10)
        statuses = _race([put, delete, put, put])
        assert statuses[1] == 204, statuses
        assert set(statuses[0:1] + statuses[2:]) <= {200, 404, 409}, statuses
        assert citydb.query("SELECT COUNT(*) FROM country WHERE id = %s", row) == ((0,),)
    assert "Traceback" not in gunicorn.output()


def test_concurrent_deletes_exactly_one_204(base_url, citydb):
    for round_ in range(5):
        row = _new_country(base_url, f"twice-{round_}")
        url = f"{base_url}/api/v1/countries/{row}"
        statuses = _race([partial(requests.delete, url, headers=ADMIN, timeout=10)] * 4)
        assert sorted(statuses) == [204, 404, 404, 404], statuses


def test_read_your_writes_on_every_worker(cached, citydb):
    base = f"{cached.url}/api/v1/countries"
    with requests.Session() as http:
        for _ in range(20):  # every worker holds a copy of the table
            assert http.get(f"{base}/7", timeout=5).status_code == 200
        served = set()
        for round_ in range(10):
            created = http.post(
                base,
                json={"countryname": f"ryw-{round_}", "countrycode": "RW"},
                headers=ADMIN,
                timeout=5,
            )
            assert created.status_code == 201
            location = cached.url + created.headers["Location"]
            for _ in range(3):
                got = http.get(location, timeout=5)
                served.add(got.headers["X-Served-By"])
                assert got.status_code == 200 and got.json()["countryname"] == f"ryw-{round_}"
            put = http.put(
                location,
                json={"countryname": f"ryw-{round_}-b", "countrycode": "RW"},
                headers=ADMIN,
                timeout=5,
            )
            assert put.status_code == 200
            for _ in range(3):
                assert http.get(location, timeout=5).json()["countryname"] == f"ryw-{round_}-b"
                listing = http.get(f"{base}?rows=100&page=2", timeout=5).json()
                assert listing["total"] == 184
            assert http.delete(location, headers=ADMIN, timeout=5).status_code == 204
            for _ in range(3):
                assert http.get(location, timeout=5).status_code == 404
            page = http.get(f"{cached.url}/countries?rows=100&page=2", timeout=5).text
            assert f"ryw-{round_}" not in page


def test_a_change_behind_the_service_shows_once_the_copies_are_ttl_old(cached, citydb):
    # Plain SQL leaves the write counter alone: only the copies' age brings
    # the change in, on the read cache's own (autocommit) connections.
    base = cached.url
    with requests.Session() as http:
        for _ in range(30):  # every worker holds a copy and the rendered page
            assert http.get(f"{base}/api/v1/countries/8", timeout=5).json()["countryname"]
            assert http.get(f"{base}/countries?rows=10", timeout=5).status_code == 200
        with citydb.connect() as conn, conn.cursor() as cur:
            cur.execute("UPDATE country SET countryname = 'Behind-the-app' WHERE id = 8")
        time.sleep(1.3)  # READ_CACHE_TTL is 1 s here
        for _ in range(30):
            one = http.get(f"{base}/api/v1/countries/8", timeout=5)
            assert one.json()["countryname"] == "Behind-the-app"
            listing = http.get(f"{base}/api/v1/countries?rows=10", timeout=5).json()
            assert listing["list"][7]["countryname"] == "Behind-the-app"
            assert "Behind-the-app" in http.get(f"{base}/countries?rows=10", timeout=5).text


def test_logout_ends_the_session_on_every_worker(cached, citydb):
    with requests.Session() as browser:
        assert form_login(browser, cached.url).status_code == 302
        copied = browser.cookies.get("session")
        html = browser.get(f"{cached.url}/countries", timeout=5).text
        assert 'id="logout"' in html
        browser.post(f"{cached.url}/logout", data={"csrf_token": csrf_of(html)}, timeout=5)
    with requests.Session() as thief:
        thief.cookies.set("session", copied)
        for _ in range(6):
            assert 'id="logout"' not in thief.get(f"{cached.url}/countries", timeout=5).text


def test_disabling_ends_sessions_on_every_worker(cached, citydb):
    with requests.Session() as victim:
        assert form_login(victim, cached.url, DEMO_ORDINARY).status_code == 302
        assert 'id="logout"' in victim.get(f"{cached.url}/countries", timeout=5).text
        resp = requests.put(
            f"{cached.url}/api/v1/users/2",
            json={"username": "test2", "enabled": 0},
            headers=ADMIN,
            timeout=5,
        )
        assert resp.status_code == 200
        for _ in range(6):
            assert 'id="logout"' not in victim.get(f"{cached.url}/countries", timeout=5).text


def test_throttle_shared_by_workers(cached, citydb):
    wrong = basic_auth(DEMO_USER[0], "wrong-password")
    statuses = [
        requests.get(f"{cached.url}/api/v1/users/1", headers=wrong, timeout=10).status_code
        for _ in range(12)
    ]
    assert statuses == [401] * 5 + [429] * 7
    resp = requests.get(f"{cached.url}/api/v1/users/1", headers=ADMIN, timeout=10)
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) > 0
    assert citydb.query("SELECT failures FROM auth_throttle WHERE `key` = 'user:test1'") == ((5,),)
