"""The per-process read cache: writes through the service are seen by every
following read (the lease), others within the TTL."""

from __future__ import annotations

import time
from contextlib import contextmanager

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from bootservice import create_app, db
from bootservice.cache import STALE_FAILS_WITHIN, ReadCache
from bootservice.config import ConfigError, load_config

from helpers import DEMO_USER, form_login


def _write_behind_the_app(app, sql: str) -> None:
    # Another replica's write: straight to the database, no commit event here.
    with app.app_context(), db.engine().begin() as conn:
        conn.execute(text(sql))


def test_own_writes_are_visible_immediately(client, auth_header):
    assert client.get("/api/v1/countries/3").get_json()["countryname"] == "Albania"
    client.put(
        "/api/v1/countries/3",
        json={"countryname": "Shqipëria", "countrycode": "AL"},
        headers=auth_header,
    )
    assert client.get("/api/v1/countries/3").get_json()["countryname"] == "Shqipëria"
    client.delete("/api/v1/countries/3", headers=auth_header)
    assert client.get("/api/v1/countries/3").status_code == 404
    assert client.get("/api/v1/countries").get_json()["total"] == 182


def test_other_writes_visible_within_ttl(app, client):
    assert client.get("/api/v1/countries/4").get_json()["countryname"] == "Algeria"
    assert "Algeria" in client.get("/countries").get_data(as_text=True)
    _write_behind_the_app(app, "UPDATE country SET countryname = 'Al-Jazair' WHERE id = 4")
    time.sleep(app.extensions["dws_config"].read_cache_ttl + 0.05)
    assert client.get("/api/v1/countries/4").get_json()["countryname"] == "Al-Jazair"
    assert "Al-Jazair" in client.get("/countries").get_data(as_text=True)
    assert client.get("/api/v1/countries?rows=5").get_json()["list"][3]["countryname"] == (
        "Al-Jazair"
    )


def test_cache_serves_from_memory_within_ttl(app, client):
    # Proof that the copy is used at all: a change behind the app's back is
    # not seen until the TTL passes.
    client.get("/api/v1/countries/6")
    _write_behind_the_app(app, "UPDATE country SET countryname = 'Changed' WHERE id = 6")
    assert client.get("/api/v1/countries/6").get_json()["countryname"] == "Anguilla"


def test_a_reload_converts_only_the_rows_that_changed(app, client):
    from bootservice.resources import RESOURCES

    countries = next(res for res in RESOURCES if res.cached)
    client.get("/api/v1/countries/7")
    cache = app.extensions["read_cache"]
    with app.app_context():
        before = cache.table(countries)
        _write_behind_the_app(app, "UPDATE country SET countryname = 'Changed' WHERE id = 7")
        time.sleep(app.extensions["dws_config"].read_cache_ttl + 0.05)
        after = cache.table(countries)
        again = cache.table(countries)
    assert after is not before and again is after
    assert after.by_id[7]["countryname"] == "Changed"
    assert before.by_id[7]["countryname"] != "Changed"
    # Every other row is the very object of the snapshot before.
    assert all(after.by_id[i] is before.by_id[i] for i in before.by_id if i != 7)
    assert [row["id"] for row in after.rows] == [row["id"] for row in before.rows]


def test_ttl_zero_reads_the_database_every_time(app_env):
    app = create_app(load_config({**app_env, "READ_CACHE_TTL": "0"}))
    try:
        client = app.test_client()
        client.get("/api/v1/countries/6")
        _write_behind_the_app(app, "UPDATE country SET countryname = 'Changed' WHERE id = 6")
        assert client.get("/api/v1/countries/6").get_json()["countryname"] == "Changed"
    finally:
        app.extensions["db_engine"].dispose()


def test_logged_in_visitor_never_gets_the_anonymous_copy(app, client):
    anonymous = app.test_client()
    assert 'id="login-link"' in anonymous.get("/countries").get_data(as_text=True)
    assert form_login(client).status_code == 302
    html = client.get("/countries").get_data(as_text=True)
    # The logged-in page: the user's name, log out, edit controls; none of
    # the anonymous copy's login link.
    assert 'id="logout"' in html and 'id="login-link"' not in html
    assert f'id="username">{DEMO_USER[0]}<' in html and 'class="delete"' in html


@pytest.mark.parametrize("value", ["abc", "-1", "2"])
def test_bad_ttl_is_named(value):
    with pytest.raises(ConfigError, match="^READ_CACHE_TTL"):
        load_config({"READ_CACHE_TTL": value})


@pytest.mark.parametrize("value", ["abc", "-0.1", "0.6"])
def test_bad_lease_is_named(value):
    with pytest.raises(ConfigError, match="^READ_CACHE_LEASE"):
        load_config({"READ_CACHE_LEASE": value})


@pytest.fixture
def other_worker(app_env):
    """A second app on the same database file: another worker's (or replica's)
    own read cache, which hears nothing of the first app's commits."""
    other = create_app(load_config(app_env))
    yield other.test_client()
    other.extensions["db_engine"].dispose()


def test_a_write_answered_is_seen_by_another_workers_copy(client, other_worker, auth_header):
    # The other worker has a copy, checked just now: within its lease.
    assert other_worker.get("/api/v1/countries/8").get_json()["countryname"] == "Argentina"
    changed = client.put(
        "/api/v1/countries/8",
        json={"countryname": "República Argentina", "countrycode": "AR"},
        headers=auth_header,
    )
    assert changed.status_code == 200
    # The first read after the answer, on the other worker, shows the write.
    assert other_worker.get("/api/v1/countries/8").get_json()["countryname"] == (
        "República Argentina"
    )
    assert client.delete("/api/v1/countries/8", headers=auth_header).status_code == 204
    assert other_worker.get("/api/v1/countries/8").status_code == 404


def test_a_write_to_a_cached_table_is_answered_after_the_lease(app, client, auth_header):
    lease = app.extensions["read_cache"].lease
    assert lease == app.extensions["dws_config"].read_cache_lease > 0
    started = time.monotonic()
    created = client.post(
        "/api/v1/countries",
        json={"countryname": "Held", "countrycode": "HL"},
        headers=auth_header,
    )
    assert created.status_code == 201
    assert time.monotonic() - started >= lease


def test_a_write_to_an_uncached_table_is_not_held(app, client, auth_header):
    lease = app.extensions["read_cache"].lease
    client.post("/api/v1/cities", json={"name": "Warmup", "state": "W"}, headers=auth_header)
    times = []
    for i in range(3):
        started = time.monotonic()
        created = client.post(
            "/api/v1/cities", json={"name": f"Unheld {i}", "state": "U"}, headers=auth_header
        )
        assert created.status_code == 201, created.get_json()
        times.append(time.monotonic() - started)
    assert min(times) < lease


@contextmanager
def statements_on(engine):
    """The SQL sent through `engine` while the block runs."""
    sent: list[str] = []

    def record(conn, cursor, statement, *args):
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


class StoppedClock:
    """`time` for the cache module with a clock that moves only when told:
    a slow machine cannot let the lease run out between two requests."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def monotonic(self) -> float:
        return self.now


def test_within_the_lease_a_copy_is_used_without_asking(app, client, monkeypatch):
    cache = app.extensions["read_cache"]
    clock = StoppedClock()
    monkeypatch.setattr("bootservice.cache.time", clock)
    client.get("/api/v1/countries/9")
    with statements_on(cache.engine) as sent:
        client.get("/api/v1/countries/9")
        assert sent == []  # the copy was checked a moment ago
        clock.now += cache.lease + 0.01
        client.get("/api/v1/countries/9")
        assert len(sent) == 1 and "table_version" in sent[0]


def test_lease_zero_asks_on_every_read_and_holds_no_write(app_env):
    app = create_app(load_config({**app_env, "READ_CACHE_LEASE": "0"}))
    try:
        cache = app.extensions["read_cache"]
        client = app.test_client()
        client.get("/api/v1/countries/6")
        with statements_on(cache.engine) as sent:
            client.get("/api/v1/countries/6")
            client.get("/api/v1/countries/7")
        assert len(sent) == 2 and all("table_version" in sql for sql in sent)
        assert cache.hold_until(5.0) == 5.0
    finally:
        app.extensions["db_engine"].dispose()


class _Engine:
    """Connections whose reads fail as the queued (seconds, invalidated) say."""

    def __init__(self, failures: list[tuple[float, bool]]) -> None:
        self.failures = failures
        self.connects = 0

    @contextmanager
    def connect(self):
        self.connects += 1
        yield self

    def fail_or_read(self) -> str:
        if self.failures:
            wait, invalidated = self.failures.pop(0)
            time.sleep(wait)
            raise DBAPIError("SELECT", {}, OSError("gone"), connection_invalidated=invalidated)
        return "rows"


def test_a_dropped_connection_is_read_again_on_a_fresh_one():
    engine = _Engine([(0.0, True)])
    cache = ReadCache(0.5, engine)  # type: ignore[arg-type]
    assert cache._run(lambda conn: conn.fail_or_read()) == "rows"
    assert engine.connects == 2


def test_a_read_that_timed_out_is_not_tried_again():
    engine = _Engine([(STALE_FAILS_WITHIN + 0.05, True)])
    cache = ReadCache(0.5, engine)  # type: ignore[arg-type]
    with pytest.raises(DBAPIError):
        cache._run(lambda conn: conn.fail_or_read())
    assert engine.connects == 1
