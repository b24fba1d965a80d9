"""The benchmark in quick mode, and write visibility through nginx.

`dws bench --quick` starts the whole request path (nginx with the
project's config, 3 bootservice instances, hello, peer, MariaDB) and loads
every target for about two seconds. These tests check that everything
answered without an error and that the report has its documented shape;
they assert no timing, because figures on a shared machine are not stable.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from itertools import count

import pytest
import requests

from dws import bench, bench_stack, tls

from helpers import DEMO_USER, basic_auth

TARGET_KEYS = {"rps", "p50_ms", "p99_ms", "errors"}
MACHINE_KEYS = {"date", "cpu_count", "cpu_model", "python", "nginx", "mariadb"}
# The bound on staleness: a write is visible to every read that follows it by 1 s.
VISIBLE_WITHIN_S = 1.0


def test_quick_bench_every_target_answers_without_errors(tmp_path):
    """`dws bench --quick --json` exits 0, prints the table, then writes every target."""
    # Directories that do not exist yet: the benchmark creates them.
    out = tmp_path / "reports" / "new" / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "dws", "bench", "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, f"bench failed:\n{done.stdout}\n{done.stderr}"
    report = json.loads(out.read_text())

    assert set(report["targets"]) == set(bench.TARGET_NAMES)
    for name, target in report["targets"].items():
        assert TARGET_KEYS <= set(target), name
        assert target["errors"] == 0, f"{name}: {target}"
        assert target["requests"] > 0, f"{name} answered nothing"
        assert target["rps"] > 0 and 0 < target["p50_ms"] <= target["p99_ms"], name
    assert MACHINE_KEYS <= set(report["machine"])
    assert report["machine"]["cpu_count"] >= 1
    rss = report["memory"]["worker_rss_mb"]["bootservice"]
    assert (
        len(rss) >= bench_stack.INSTANCES and report["memory"]["bootservice_worker_rss_mb_max"] > 0
    )
    # The chart beside the JSON: a PNG, named on stdout after the report.
    chart = out.with_suffix(".png")
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"report: {out}\nchart: {chart}\n" in done.stdout
    # The table is on stdout, one row per target, before the report's path.
    for name in bench.TARGET_NAMES:
        assert f"\n{name} " in done.stdout
        assert done.stdout.index(f"\n{name} ") < done.stdout.index(f"report: {out}")


@pytest.fixture(scope="module")
def stack() -> Iterator[bench_stack.Stack]:
    """nginx -> 3 bootservice instances -> MariaDB, as the benchmark runs them."""
    with bench_stack.running_stack(bench_stack.Settings(apps=("bootservice",))) as running:
        yield running


def _reads_after_write(
    http: requests.Session, url: str, check, seconds: float
) -> tuple[list[float], list[float]]:
    """Read `url` back to back for `seconds`; returns (fresh, stale) start offsets."""
    fresh: list[float] = []
    stale: list[float] = []
    start = time.monotonic()
    while (offset := time.monotonic() - start) < seconds:
        resp = http.get(url, timeout=5)
        (fresh if check(resp) else stale).append(offset)
    return fresh, stale


def _upstreams(stack: bench_stack.Stack, uri: str) -> set[str]:
    """The instances (upstream addresses) nginx sent requests for `uri` to."""
    seen = set()
    for line in stack.access_log.read_text().splitlines():
        entry = json.loads(line)
        if entry["uri"] == uri:
            seen.update(addr.strip() for addr in entry["upstream_addr"].split(","))
    return seen


_names = count(1)


def test_write_is_visible_to_every_following_read_through_nginx(stack):
    """After an update and a create through nginx, every read on every instance
    sees them within the 1 s bound (so any read cache must honour it)."""
    base = f"{stack.url()}/api/v1/countries"
    auth = basic_auth(*DEMO_USER)
    instances = {f"127.0.0.1:{app.port}" for app in stack.apps["bootservice"]}
    with tls.client_session(stack.ca) as http:
        # Warm every instance on the old value first, so a read cache, if the
        # service has one, holds the stale row when the write happens.
        for _ in range(60):
            assert http.get(f"{base}/7", timeout=5).status_code == 200

        name = f"visible-{next(_names)}-{time.time_ns()}"
        put = http.put(
            f"{base}/7", json={"countryname": name, "countrycode": "VZ"}, headers=auth, timeout=5
        )
        assert put.status_code == 200, put.text
        fresh, stale = _reads_after_write(
            http, f"{base}/7", lambda r: r.json()["countryname"] == name, 1.5
        )
        late = [t for t in stale if t >= VISIBLE_WITHIN_S]
        assert not late, f"stale reads {VISIBLE_WITHIN_S}s or more after the update: {late}"
        assert len(fresh) + len(stale) >= 3 * len(instances)

        created = http.post(
            base, json={"countryname": name + "-new", "countrycode": "VN"}, headers=auth, timeout=5
        )
        assert created.status_code == 201, created.text
        new_id = created.json()["id"]
        fresh_new, stale_new = _reads_after_write(
            http, f"{base}/{new_id}", lambda r: r.status_code == 200, 1.5
        )
        late = [t for t in stale_new if t >= VISIBLE_WITHIN_S]
        assert not late, f"new row missing {VISIBLE_WITHIN_S}s or more after the create: {late}"

    # The reads really went to all three instances (nginx round-robin).
    assert _upstreams(stack, "/api/v1/countries/7") == instances
    assert _upstreams(stack, f"/api/v1/countries/{new_id}") == instances
    print(f"stale reads after update: {stale}, after create: {stale_new}")
