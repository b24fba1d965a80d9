"""stack.monitoring.yml on the session's lab (`dws lab deploy --monitoring`):
Prometheus finds every replica, every node's nginx and engine and the
database through the swarm, scrapes them all, and raises no alert on a
healthy stack; the metrics stay off the site; the exporter's account sees
nothing of citydb."""

from __future__ import annotations

from collections import Counter

import requests

from dws import deploy, lab_sql, lab_tls, monitoring
from dws.util import wait_until

WINDOWED_ALERTS = {"ReplicaRestarting", "WorkersRestarting"}


def test_every_target_is_up_and_no_alert_fires(fresh_stack):
    lab = fresh_stack
    expected = monitoring.expected_targets(3, len(lab.nodes), 1)
    found = monitoring.wait_targets_up(lab, expected, timeout=120)
    assert Counter(t["job"] for t in found) == expected
    by_job = {job: {t["node"] for t in found if t["job"] == job} for job in expected}
    assert by_job["nginx"] == by_job["engine"] == set(lab.nodes)
    assert by_job["mysql"] == {deploy.DB_NODE}
    services = {t["job"]: t["service"] for t in found}
    assert services["bootservice"] == deploy.BOOT
    # What each exporter read from its server; the workers of the replicas
    # (3 x 2), once the tasks of an update just before are gone.
    wanted = {
        "nginx_up": [1.0] * len(lab.nodes),
        "mysql_up": [1.0],
        "sum(bootservice_workers)": [6.0],
    }
    got = wait_until(
        "the exporters' and replicas' values",
        lambda: (seen := {q: _values(lab, q) for q in wanted}) == wanted and seen,
        30,
        1,
        error=AssertionError,
    )
    assert got == wanted
    # No alert about the stack as it is now. The windowed ones count the
    # last minutes' replaced tasks, which in this session include the
    # tutorial's heal, updates and broken release.
    firing = [
        a
        for a in monitoring.alerts(lab)
        if a["state"] == "firing" and a["name"] not in WINDOWED_ALERTS
    ]
    assert firing == []
    # Prometheus found the Alertmanager through Swarm's DNS and sends to it.
    managers = monitoring.api(lab, "alertmanagers")["activeAlertmanagers"]
    assert [m["url"].endswith(":9093/api/v2/alerts") for m in managers] == [True], managers


def test_a_request_through_the_front_is_counted_by_its_route(fresh_stack):
    lab = fresh_stack
    query = 'sum(bootservice_http_requests_total{route="/api/v1/countries/<raw_id>"})'

    def counted() -> float:
        got = _values(lab, query)
        return got[0] if got else 0.0

    before = counted()
    with lab_tls.session() as s:
        for _ in range(20):
            assert s.get(f"{lab.lb_url}/api/v1/countries/1", timeout=10).status_code == 200
    # Two scrapes at most (5 s apart) until the counts show.
    wait_until("the 20 lookups counted", lambda: counted() >= before + 20, 30, 1)
    # The front and the nodes' nginx do not lead to the metrics.
    with lab_tls.session() as s:
        resp = s.get(f"{lab.lb_url}/metrics", timeout=10)
    assert resp.status_code == 404 and "bootservice_" not in resp.text


def test_the_exporters_account_reads_the_status_and_no_row(fresh_stack):
    lab = fresh_stack
    where = lab_sql.database_containers(lab, deploy.MYSQL)[0]
    grants = lab_sql.as_root(
        lab, where, f"SHOW GRANTS FOR '{monitoring.MONITOR_USER}'@'localhost';\n"
    )
    assert "GRANT PROCESS, SLAVE MONITOR ON *.*" in grants, grants
    assert "citydb" not in grants and "SELECT" not in grants, grants


def test_lab_status_prints_the_prometheus_url(fresh_stack, run_dws):
    ran = run_dws("lab", "status")
    assert ran.status == 0, ran.output
    url = monitoring.prometheus_url()
    assert f"prometheus     : {url}/" in ran.output
    assert requests.get(f"{url}/-/ready", timeout=5).status_code == 200


def _values(lab, query: str) -> list[float]:
    result = monitoring.api(lab, "query", query=query)["result"]
    return sorted(float(r["value"][1]) for r in result)
