"""dws.monitoring's own logic: the alert watch's record of each alert, the
exporter's client file and account, the expected targets."""

from __future__ import annotations

import pytest

from dws import monitoring


def _firing(name: str, **labels: str) -> dict:
    return {"name": name, "state": "firing", "labels": labels, "active_at": ""}


@pytest.fixture
def answers(monkeypatch) -> list:
    """What Prometheus answers to each poll, in order (an exception: unreachable)."""
    queue: list = []

    def fake_alerts(_lab):
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(monitoring, "alerts", fake_alerts)
    return queue


def test_the_watch_records_when_each_alert_fired_and_resolved(answers):
    answers += [
        [],
        [{**_firing("NodeDown", node="cloud02"), "state": "pending"}],
        [_firing("NodeDown", node="cloud02")],
        monitoring.MonitoringError("down"),
        [_firing("NodeDown", node="cloud02"), _firing("ReplicasBelowDesired", service="dws_b")],
        [_firing("ReplicasBelowDesired", service="dws_b")],
        [],
    ]
    watch = monitoring.AlertWatch(lab=None, origin=0.0)
    for _ in range(7):
        watch.poll()
    assert watch.polls == 6 and watch.errors == 1
    got = {(e["name"], e["subject"]): e for e in watch.report()}
    assert set(got) == {("NodeDown", "cloud02"), ("ReplicasBelowDesired", "dws_b")}
    node = got[("NodeDown", "cloud02")]
    replicas = got[("ReplicasBelowDesired", "dws_b")]
    assert node["fired_seconds"] <= replicas["fired_seconds"]
    assert node["resolved_seconds"] is not None and replicas["resolved_seconds"] is not None
    assert watch.wait_resolved(("NodeDown", "ReplicasBelowDesired"), timeout=0)


def test_an_alert_that_never_fired_or_never_resolved_is_not_resolved(answers):
    answers += [[_firing("NodeDown", node="cloud02")]]
    watch = monitoring.AlertWatch(lab=None, origin=0.0)
    watch.poll()
    assert not watch.wait_resolved(("NodeDown",), timeout=0)
    assert not watch.wait_resolved(("ReplicasBelowDesired",), timeout=0)


def test_a_second_firing_after_a_resolution_is_a_new_entry(answers):
    fire = [_firing("NodeDown", node="cloud02")]
    answers += [fire, [], fire]
    watch = monitoring.AlertWatch(lab=None, origin=0.0)
    for _ in range(3):
        watch.poll()
    (entry,) = watch.report()
    assert entry["resolved_seconds"] is None


def test_the_exporters_client_file_and_account():
    cnf = monitoring.exporter_cnf("abc123")
    assert cnf.splitlines() == [
        "[client]",
        f"user={monitoring.MONITOR_USER}",
        "password=abc123",
        f"socket={monitoring.SOCKET}",
    ]
    sql = monitoring.account_sql("abc123")
    assert "GRANT PROCESS, SLAVE MONITOR ON *.* TO 'dws_monitor'@'localhost'" in sql
    assert "citydb" not in sql and "SELECT" not in sql


def test_the_expected_targets_of_a_converged_stack():
    assert monitoring.expected_targets(3, 3, 1) == {
        "bootservice": 3,
        "nginx": 3,
        "mysql": 1,
        "engine": 3,
        "prometheus": 1,
    }


def test_the_config_version_follows_the_files():
    assert len(monitoring.config_version()) == 12
    assert monitoring.config_version() == monitoring.config_version()


def test_prometheus_is_found_where_the_lab_started_its_proxy(tmp_path, monkeypatch):
    from dws import lab as lablib

    monkeypatch.setattr(lablib, "STATE_DIR", tmp_path)
    with pytest.raises(monitoring.MonitoringError, match="dws lab deploy --monitoring"):
        monitoring.prometheus_url()
    (tmp_path / "monitoring-proxy").mkdir()
    (tmp_path / "monitoring-proxy" / "ports.json").write_text(
        '{"prometheus": 19090, "alertmanager": 19093}'
    )
    assert monitoring.prometheus_url() == "http://127.0.0.1:19090"
    assert monitoring.alertmanager_url() == "http://127.0.0.1:19093"
