"""The Prometheus metrics under the production gunicorn on MariaDB: several
workers, one multiprocess folder, the listener in the master."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from dws.bench_stack import App
from dws.harness import Gunicorn
from dws.procstats import children
from dws.util import free_port, wait_until

ITEM = "/api/v1/countries/<raw_id>"
WORKERS = 3


@dataclass
class Served:
    app: Gunicorn
    metrics_url: str
    folder: Path

    def scrape(self) -> dict[tuple[str, frozenset], float]:
        resp = requests.get(self.metrics_url, timeout=5)
        assert resp.status_code == 200
        return {
            (s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(resp.text)
            for s in family.samples
        }

    def value(self, name: str, **labels: str) -> float:
        return self.scrape().get((name, frozenset(labels.items())), 0.0)

    def workers(self) -> list[int]:
        """The pids of the master's workers."""
        assert self.app.proc is not None
        return children(self.app.proc.pid)


@pytest.fixture(scope="module")
def served(mariadb, tmp_path_factory) -> Iterator[Served]:
    """bootservice under gunicorn with WORKERS workers, its multiprocess
    folder holding a stale file from an earlier run."""
    tmp = tmp_path_factory.mktemp("metrics")
    key = tmp / "secret_key"
    key.write_text("integration-" + "k" * 40)
    folder = tmp / "multiproc"
    folder.mkdir()
    (folder / "counter_1.db").write_bytes(b"\0" * 64)
    port = free_port()
    env = {
        **mariadb.app_env(),
        "SECRET_KEY_FILE": str(key),
        "PROMETHEUS_MULTIPROC_DIR": str(folder),
        "METRICS_PORT": str(port),
    }
    server = Gunicorn(env, tmp / "gunicorn.log", workers=WORKERS)
    try:
        server.start()
        yield Served(server, f"http://127.0.0.1:{port}/metrics", folder)
    finally:
        server.stop()


def _per_process(folder: Path, route: str) -> dict[int, float]:
    """Each process's own count of GET `route` answered 200, from its file."""
    counts = {}
    for path in folder.glob("counter_*.db"):
        pid = int(path.stem.split("_")[1])
        for family in MultiProcessCollector.merge([str(path)]):
            for s in family.samples:
                labels = s.labels
                if s.name == "bootservice_http_requests_total" and labels == {
                    "route": route,
                    "method": "GET",
                    "status": "200",
                }:
                    counts[pid] = s.value
    return counts


def test_the_master_empties_the_folder_when_it_starts(served):
    assert not (served.folder / "counter_1.db").exists()


def test_counts_are_summed_over_the_workers(served):
    labels = {"route": ITEM, "method": "GET", "status": "200"}
    before = served.value("bootservice_http_requests_total", **labels)

    def lookup(i: int) -> int:
        url = f"{served.app.url}/api/v1/countries/{1 + i % 50}"
        return requests.get(url, timeout=10).status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(lookup, range(120))) == {200}
    assert served.value("bootservice_http_requests_total", **labels) == before + 120
    histogram = served.value(
        "bootservice_http_request_duration_seconds_count", route=ITEM, method="GET"
    )
    assert histogram == before + 120
    # Each worker kept its own count in its own file; the scrape added them.
    per_process = _per_process(served.folder, ITEM)
    assert len([n for n in per_process.values() if n]) >= 2, per_process
    assert sum(per_process.values()) == before + 120
    assert served.value("bootservice_workers") == WORKERS
    assert served.value("bootservice_http_requests_in_flight") == 0
    # MariaDB: each worker's two pools, DB_POOL_SIZE + DB_MAX_OVERFLOW each.
    assert served.value("bootservice_db_pool_limit", pool="main") == WORKERS * 10
    assert served.value("bootservice_db_pool_limit", pool="read") == WORKERS * 10
    assert served.value("bootservice_db_pool_checked_out", pool="main") == 0
    assert served.value("bootservice_read_cache_hits_total", table="country") > 0


def test_the_application_port_does_not_serve_metrics(served):
    resp = requests.get(f"{served.app.url}/metrics", timeout=5)
    assert resp.status_code == 404
    assert "bootservice_" not in resp.text
    assert requests.get(served.metrics_url.removesuffix("/metrics"), timeout=5).status_code == 404


def test_a_killed_worker_is_replaced_and_counted_and_its_counts_stay(served):
    labels = {"route": ITEM, "method": "GET", "status": "200"}
    assert requests.get(f"{served.app.url}/api/v1/countries/1", timeout=10).ok
    total = served.value("bootservice_http_requests_total", **labels)
    restarts = served.value("bootservice_worker_restarts_total")
    workers = served.workers()
    assert len(workers) == WORKERS
    victim = workers[0]
    os.kill(victim, signal.SIGKILL)

    def replaced() -> bool:
        alive = served.workers()
        return victim not in alive and len(alive) == WORKERS

    wait_until("a new worker", replaced, 30, 0.2)
    wait_until(
        "the restart counted",
        lambda: served.value("bootservice_worker_restarts_total") == restarts + 1,
        10,
        0.2,
    )
    assert served.value("bootservice_workers") == WORKERS
    # The dead worker's gauges are gone, its counts are not.
    assert not list(served.folder.glob(f"gauge_*_{victim}.db"))
    assert served.value("bootservice_http_requests_total", **labels) == total


@pytest.mark.parametrize(
    "spec,path",
    [
        # The benchmark's way of measuring the service without its metrics.
        ("bootservice:create_app(metrics=False)", "/api/v1/countries/1"),
        # Its comparison apps run under the same configuration.
        ("hello_app:app", "/hello"),
    ],
)
def test_an_app_without_metrics_runs_under_the_configuration(mariadb, tmp_path, spec, path):
    key = tmp_path / "secret_key"
    key.write_text("integration-" + "k" * 40)
    port = free_port()
    env = {**mariadb.app_env(), "SECRET_KEY_FILE": str(key), "METRICS_PORT": str(port)}
    server = App(env, tmp_path / "gunicorn.log", app=spec, workers=2)
    try:
        server.start()
        assert requests.get(server.url + path, timeout=10).status_code == 200
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    finally:
        server.stop()
    assert "Traceback" not in server.output() and "Metrics at" not in server.output()
