"""The Prometheus metrics on the embedded SQLite default, in one process.

The exposition is read as the metrics listener serves it; the multiprocess
mode under gunicorn (several workers, a restarted one) is in
tests/integration/test_metrics.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request

import pymysql
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from werkzeug.test import Client

from bootservice import create_app, db, galera, metrics
from bootservice.config import Config, ConfigError, load_config
from bootservice.middleware import FixedHeaders
from dws.util import wait_until

from helpers import DEMO_USER, REPO, basic_auth, free_port

ITEM = "/api/v1/countries/<raw_id>"
HOSTILE = '"}\nbootservice_evil{x="1'


def scrape(app) -> str:
    """The exposition text, as the metrics listener answers /metrics."""
    resp = Client(metrics.exposition_app(app)).get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return resp.get_data(as_text=True)


def samples(exposition: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of the exposition: (name, its labels) -> value."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
    }


def value(app, name: str, **labels: str) -> float | None:
    """One sample's value now, None when the exposition has no such sample."""
    return samples(scrape(app)).get((name, frozenset(labels.items())))


def label_values(exposition: str, label: str) -> set[str]:
    return {dict(key)[label] for (_, key) in samples(exposition) if label in dict(key)}


# --- requests ---------------------------------------------------------------


def test_requests_are_counted_by_route_template_method_and_status(app, client):
    assert client.get("/api/v1/countries/5").status_code == 200
    assert client.get("/api/v1/countries/6").status_code == 200
    assert client.head("/api/v1/countries/5").status_code == 200
    assert client.get("/api/v1/countries/999999").status_code == 404
    assert client.get("/countries?countryname=an").status_code == 200
    got = samples(scrape(app))

    def count(route: str, method: str, status: str) -> float | None:
        return got.get(
            (
                "bootservice_http_requests_total",
                frozenset({"route": route, "method": method, "status": status}.items()),
            )
        )

    assert count(ITEM, "GET", "200") == 2
    assert count(ITEM, "HEAD", "200") == 1
    # A 404 of a view that matched keeps the view's route.
    assert count(ITEM, "GET", "404") == 1
    assert count("/countries", "GET", "200") == 1
    histogram = frozenset({"route": ITEM, "method": "GET"}.items())
    assert got[("bootservice_http_request_duration_seconds_count", histogram)] == 3
    le_10 = frozenset({**dict(histogram), "le": "10.0"}.items())
    assert got[("bootservice_http_request_duration_seconds_bucket", le_10)] == 3
    assert 0 < got[("bootservice_http_request_duration_seconds_sum", histogram)] < 10
    assert got[("bootservice_http_requests_in_flight", frozenset())] == 0
    # Never a query string, never an id: only the app's own rules.
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    assert label_values(scrape(app), "route") <= rules | {metrics.UNMATCHED}


def test_an_unknown_path_is_unmatched_and_never_a_label(app, client):
    hostile_paths = [
        "/no/such/page",
        "/%22%7D%0Abootservice_evil%7Bx=%221",
        "/" + "x" * 3000,
        "/api/v1/countries/<script>alert(1)</script>/more",
    ]
    for path in hostile_paths:
        assert client.get(path).status_code == 404
    # A matched route with a hostile id keeps the template.
    assert client.get("/api/v1/countries/" + HOSTILE.replace("\n", "%0A")).status_code in (
        400,
        404,
    )
    assert client.open("/api/v1/countries/1", method="PATCH").status_code == 405
    assert client.open("/api/v1/countries", method="BREW").status_code == 405
    exposition = scrape(app)
    got = samples(exposition)
    unmatched = {"route": metrics.UNMATCHED, "method": "GET", "status": "404"}
    assert got[("bootservice_http_requests_total", frozenset(unmatched.items()))] == 4
    patch = {"route": metrics.UNMATCHED, "method": "PATCH", "status": "405"}
    assert got[("bootservice_http_requests_total", frozenset(patch.items()))] == 1
    brew = {"route": metrics.UNMATCHED, "method": "other", "status": "405"}
    assert got[("bootservice_http_requests_total", frozenset(brew.items()))] == 1
    for fragment in ("no/such", "xxxx", "script", "evil", "BREW"):
        assert fragment not in exposition
    assert label_values(exposition, "method") == {"GET", "PATCH", "other"}


def test_a_request_the_app_fails_counts_as_500(app):
    def broken():
        raise RuntimeError("boom")

    app.add_url_rule("/broken", "broken", broken)
    assert app.test_client().get("/broken").status_code == 500
    assert (
        value(app, "bootservice_http_requests_total", route="/broken", method="GET", status="500")
        == 1
    )


# --- the database and the read cache -------------------------------------------


def test_pool_use_is_counted_while_a_request_holds_a_connection(app):
    checked_out = {}

    def hold():
        db.session().execute(text("SELECT 1"))
        checked_out["now"] = app.extensions["metrics"].registry.get_sample_value(
            "bootservice_db_pool_checked_out", {"pool": "main"}
        )
        return {}

    app.add_url_rule("/hold", "hold", hold)
    assert app.test_client().get("/hold").status_code == 200
    assert checked_out["now"] == 1
    assert value(app, "bootservice_db_pool_checked_out", pool="main") == 0
    # SQLAlchemy's own pool for a SQLite file: 5 connections and 10 more.
    assert value(app, "bootservice_db_pool_limit", pool="main") == 15
    # The embedded database reads through the same engine: one pool.
    assert value(app, "bootservice_db_pool_limit", pool="read") is None
    assert value(app, "bootservice_workers") == 1


@pytest.fixture
def cached_app(app_env):
    """An app whose copy of the table lives 1 s and is trusted for 0.5 s."""
    application = create_app(
        load_config({**app_env, "READ_CACHE_TTL": "1", "READ_CACHE_LEASE": "0.5"})
    )
    yield application
    application.extensions["db_engine"].dispose()


def test_the_read_cache_counts_hits_checks_and_reloads(cached_app):
    client = cached_app.test_client()
    assert client.get("/api/v1/countries/5").status_code == 200
    assert value(cached_app, "bootservice_read_cache_checks_total", table="country") == 1
    assert value(cached_app, "bootservice_read_cache_reloads_total", table="country") == 1
    assert value(cached_app, "bootservice_read_cache_hits_total", table="country") is None
    assert client.get("/api/v1/countries/6").status_code == 200
    # Within the lease: the copy, without asking the database.
    assert value(cached_app, "bootservice_read_cache_hits_total", table="country") == 1
    assert value(cached_app, "bootservice_read_cache_reloads_total", table="country") == 1


def _deadlock() -> OperationalError:
    return OperationalError("COMMIT", {}, pymysql.err.OperationalError(galera.DEADLOCK, "x"))


def test_database_retries_are_counted_by_reason(app):
    errors = [_deadlock()]

    def flaky():
        if errors:
            raise errors.pop()
        return {}

    app.add_url_rule("/flaky", "flaky", galera._retrying(flaky), methods=["POST"])
    for reason in metrics.DB_RETRY_REASONS:
        assert value(app, "bootservice_db_retries_total", reason=reason) == 0
    resp = app.test_client().post("/flaky")
    assert resp.status_code == 200 and resp.headers["X-DB-Retries"] == "1"
    assert value(app, "bootservice_db_retries_total", reason="conflict") == 1
    assert value(app, "bootservice_db_retries_total", reason="connection_lost") == 0


@pytest.mark.parametrize(
    "code,reason",
    [
        (1213, "conflict"),
        (1047, "node_not_ready"),
        (2003, "cannot_connect"),
        (2013, "connection_lost"),
    ],
)
def test_every_retry_reason_is_one_shown_from_the_start(code, reason):
    exc = OperationalError("SELECT 1", {}, pymysql.err.OperationalError(code, "x"))
    assert galera._retry_reason(exc) == reason
    assert reason in metrics.DB_RETRY_REASONS


# --- throttling and idempotent replays ---------------------------------------------


def test_throttled_authentications_are_counted(app_env):
    app = create_app(load_config({**app_env, "THROTTLE_ACCOUNT_FAILURES": "1"}))
    try:
        client = app.test_client()
        wrong = basic_auth(DEMO_USER[0], "not-the-password")
        body = {"countryname": "X", "countrycode": "X"}
        assert client.post("/api/v1/countries", json=body, headers=wrong).status_code == 401
        assert value(app, "bootservice_auth_throttled_total") == 0
        for _ in range(2):
            assert client.post("/api/v1/countries", json=body, headers=wrong).status_code == 429
        assert value(app, "bootservice_auth_throttled_total") == 2
    finally:
        app.extensions["db_engine"].dispose()


def test_idempotent_replays_are_counted(app, client, auth_header):
    headers = {**auth_header, "Idempotency-Key": "metrics-1"}
    body = {"countryname": "Atlantis", "countrycode": "AT"}
    assert client.post("/api/v1/countries", json=body, headers=headers).status_code == 201
    assert value(app, "bootservice_idempotent_replays_total") == 0
    again = client.post("/api/v1/countries", json=body, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert value(app, "bootservice_idempotent_replays_total") == 1
    created = {"route": "/api/v1/countries", "method": "POST", "status": "201"}
    assert (
        samples(scrape(app))[("bootservice_http_requests_total", frozenset(created.items()))] == 2
    )


# --- the switch and the configuration ---------------------------------------------


def test_metrics_off_builds_nothing(app_env):
    app = create_app(load_config({**app_env, "METRICS": "0"}))
    try:
        assert "metrics" not in app.extensions
        assert not isinstance(app.wsgi_app, metrics.RequestMetrics)
        assert app.test_client().get("/api/v1/countries/5").status_code == 200
        metrics.worker_exited(app, 12345, replaced=True)  # a no-op, not an error
        assert metrics.of(app) is None and metrics.of(lambda environ, start: []) is None
    finally:
        app.extensions["db_engine"].dispose()


def test_metrics_wrap_the_whole_app(app):
    assert isinstance(app.wsgi_app, metrics.RequestMetrics)
    layers = []
    layer = app.wsgi_app
    while hasattr(layer, "app"):
        layer = layer.app
        layers.append(type(layer))
    assert FixedHeaders in layers


def test_the_settings_and_their_checks():
    config = load_config({})
    assert (config.metrics, config.metrics_port) == (True, 9888)
    assert load_config({"METRICS": "0"}).metrics is False
    with pytest.raises(ConfigError, match="^METRICS must be 0 or 1, got 'yes'$"):
        load_config({"METRICS": "yes"})
    with pytest.raises(ConfigError, match="^METRICS_PORT must be between 1 and 65535, got 0$"):
        load_config({"METRICS_PORT": "0"})


def _start(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "-m", "bootservice.serve"],
        env={**clean, "SECRET_KEY": "0123456789abcdef0123", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_gunicorn_names_a_metrics_port_that_is_the_application_port(tmp_path):
    done = _start({"SQLITE_PATH": str(tmp_path / "x.sqlite3"), "PORT": "9888"})
    assert (done.returncode, done.stderr) == (
        2,
        "bootservice: configuration error: METRICS_PORT must differ from PORT (9888)\n",
    )


def test_gunicorn_names_a_multiprocess_folder_it_cannot_make(tmp_path):
    (tmp_path / "file").write_text("")
    where = tmp_path / "file" / "metrics"
    done = _start(
        {"SQLITE_PATH": str(tmp_path / "x.sqlite3"), "PROMETHEUS_MULTIPROC_DIR": str(where)}
    )
    assert done.returncode == 2
    assert done.stderr == (
        f"bootservice: configuration error: PROMETHEUS_MULTIPROC_DIR: folder {where} "
        "cannot be created: Not a directory\n"
    )


# --- the multiprocess folder ---------------------------------------------------------


def test_the_named_folder_is_emptied_of_the_librarys_files_only(tmp_path):
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_1.db").write_bytes(b"old")
    (folder / "gauge_livesum_2.db").write_bytes(b"old")
    (folder / "notes.txt").write_text("not ours")
    env = {"PROMETHEUS_MULTIPROC_DIR": str(folder)}
    assert metrics.prepare_directory(env) is None
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
    made = tmp_path / "new" / "metrics"
    assert metrics.prepare_directory({"PROMETHEUS_MULTIPROC_DIR": str(made)}) is None
    assert made.is_dir()


def test_without_the_variable_the_master_names_a_folder_of_its_own():
    env: dict[str, str] = {}
    own = metrics.prepare_directory(env)
    assert own is not None and env["PROMETHEUS_MULTIPROC_DIR"] == str(own)
    assert own.name == f"bootservice-metrics-{os.getpid()}"
    # Made by the app when it first writes, so that reading the
    # configuration leaves nothing behind.
    assert not own.exists()


# --- the listener -------------------------------------------------------------------


def test_the_listener_serves_metrics_and_nothing_else(app, client):
    assert client.get("/api/v1/countries/5").status_code == 200
    port = free_port()
    server = metrics.serve(app, "127.0.0.1", port)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            body = resp.read().decode()
        served = {"route": ITEM, "method": "GET", "status": "200"}
        assert samples(body)[("bootservice_http_requests_total", frozenset(served.items()))] == 1
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
        assert refused.value.code == 404
        refused.value.close()
        # The port is taken: a second listener cannot start.
        with pytest.raises(OSError):
            metrics.serve(app, "127.0.0.1", port)
    finally:
        server.shutdown()
        server.server_close()


def test_the_application_does_not_answer_metrics(client):
    assert client.get("/metrics").status_code == 404


def test_only_the_application_port_is_proxied_or_published():
    # nginx names the replicas' application port, never the metrics port,
    # and the stack publishes no port of bootservice at all.
    conf = (REPO / "services" / "nginx" / "conf.d" / "default.conf").read_text()
    assert "set $upstream bootservice:8888;" in conf
    assert str(Config.metrics_port) not in conf
    stack = yaml.safe_load((REPO / "stack.yml").read_text())
    assert "ports" not in stack["services"]["bootservice"]


def test_the_development_server_serves_metrics_too(tmp_path):
    port, metrics_port = free_port(), free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "DATABASE_"))}
    env = {
        **clean,
        "SQLITE_PATH": str(tmp_path / "x.sqlite3"),
        "SECRET_KEY": "0123456789abcdef0123",
        "METRICS_PORT": str(metrics_port),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bootservice", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def answered() -> str | None:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{metrics_port}/metrics", timeout=1
                ) as resp:
                    return resp.read().decode()
            except OSError:
                return None

        body = wait_until("the development server", answered, 30, 0.2, proc=proc)
        assert 'route="/healthz"' in body
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert f"metrics on http://127.0.0.1:{metrics_port}/metrics" in out


def test_the_docs_name_every_metric():
    page = (REPO / "docs" / "monitoring.md").read_text()
    for family in metrics.Metrics(multiprocess=False).registry.collect():
        name = family.name + ("_total" if family.type == "counter" else "")
        assert f"`{name}`" in page, name
