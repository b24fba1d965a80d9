"""`dws replay` on the session's lab (after the other e2e tests): the tutorial's
steps and three secret rotations under continuous traffic, zero failed
requests, no lost writes, nobody logged out; then `dws replay --db-nodes 3`:
the same promises while each node, each holding a Galera node, is drained,
the database restarts node by node and a node dies."""

from __future__ import annotations

import json
import re

from dws.probe import REPORT
from dws.replay import TIMELINE
from dws.replay_ha import REPORT_HA, TIMELINE_HA

STEP_FIGURES = {"requests", "failures", "retried", "p50_ms", "p99_ms", "max_ms"}
# Steps whose `docker` command replaces bootservice tasks: how many new ones
# at least, and how many old ones stop (the rest of the breakdown follows).
TIMED_STEPS = {"heal": 1, "drain": 1, "scale": 3, "update": 6, "rollback": 6, "auto-rollback": 1}


def test_replay_keeps_every_promise(swarm_lab, run_dws):
    """`dws replay`: every step's outcome and figures; no failure, slow request or
    retry beyond the bounds; no write lost or applied twice; the timeline drawn."""
    REPORT.unlink(missing_ok=True)
    TIMELINE.unlink(missing_ok=True)
    ran = run_dws("replay", timeout=3600)
    assert ran.status == 0, ran.output[-4000:]
    report = json.loads(REPORT.read_text())
    assert report["lab"]["engine"] == "26"
    assert report["lab"]["engine_version"].startswith("26."), report["lab"]
    assert report["violations"] == []
    steps = {row["name"]: row for row in report["steps"]}
    assert list(steps) == [
        "deploy",
        "balance",
        "heal",
        "rotate-session-key",
        "rotate-db-password",
        "rotate-tls-cert",
        "drain",
        "scale",
        "update",
        "rollback",
        "auto-rollback",
        "db-restart",
        "node-crash",
    ]
    for name, row in steps.items():
        assert STEP_FIGURES <= set(row), name
        assert row["failures"] == 0, name
        # The probe's logged-in visitor stayed logged in, its open form valid
        # (the traffic starts at the end of `deploy`).
        assert row["session_checks"] > 0 or name == "deploy", (name, row)
        assert row["logouts"] == 0, name
        assert row["forms_refused"] == 0, name
    assert_rotations(steps)
    assert_node_crash_alerted(steps["node-crash"])
    writes = report["writes"]
    assert writes["acknowledged_writes"] > 0
    assert writes["lost_writes"] == 0 and writes["duplicated_writes"] == 0
    assert writes["wrong_content"] == 0
    assert TIMELINE.stat().st_size > 10_000
    assert_swarm_breakdown(report, steps)
    # `dws replay` on a lab that was up leaves the lab; without --keep the stack goes.
    assert "stack removed" in ran.output


def test_replay_with_three_database_nodes_keeps_every_promise(older_engine_lab, run_dws):
    """`dws replay --db-nodes 3`, on nodes with Docker Engine 20.10 (the main
    replay runs on 26, so both engines are covered): one cluster started once;
    every drain, the rolling restart and the crash of a database node's swarm
    node pass with no failed request and no lost or doubled write; each step
    ends with 3 synced nodes."""
    REPORT_HA.unlink(missing_ok=True)
    TIMELINE_HA.unlink(missing_ok=True)
    ran = run_dws("replay", "--db-nodes", "3", timeout=3600)
    assert ran.status == 0, ran.output[-4000:]
    report = json.loads(REPORT_HA.read_text())
    assert report["lab"]["engine"] == "20.10"
    assert report["lab"]["engine_version"].startswith("20.10."), report["lab"]
    assert report["violations"] == [] and report["db_nodes"] == 3
    steps = {row["name"]: row for row in report["steps"]}
    assert list(steps) == [
        "deploy",
        "steady",
        "drain cloud01",
        "drain cloud02",
        "drain cloud03",
        "db-rolling-restart",
        "node-crash cloud02",
        "db-full-crash",
    ]
    assert steps["deploy"]["bootstraps"] == 1
    for name, row in steps.items():
        assert STEP_FIGURES <= set(row), name
        assert row["failures"] == 0, name
        if name not in ("deploy", "steady"):
            assert row["requests"] > 0 and row["cluster_back_seconds"] > 0, name
    writes = report["writes"]
    assert writes["acknowledged_writes"] > 0
    assert writes["lost_writes"] == 0 and writes["duplicated_writes"] == 0
    assert writes["wrong_content"] == 0
    assert TIMELINE_HA.stat().st_size > 10_000
    # dws db backup, a table emptied, dws db restore: every node equal to the backup.
    restored = report["backup_restore"]
    assert restored["identical_on"] == ["cloud01", "cloud02", "cloud03"]
    assert restored["tables"] >= 3 and restored["dump_bytes"] > 10_000

    # The lab is back to one labelled node without database volumes elsewhere.
    def labels(node: str) -> str:
        return older_engine_lab.docker("node", "inspect", node, "--format", "{{json .Spec.Labels}}")

    assert [node for node in older_engine_lab.nodes if "dws.db" in labels(node)] == ["cloud03"]


def assert_node_crash_alerted(row: dict) -> None:
    """The session deploys with monitoring: Prometheus raised the node's and
    the missing replicas' alerts while the node was dead, and resolved them
    once it was back."""
    fired = {a["name"]: a for a in row["alerts_fired"]}
    assert {"NodeDown", "ReplicasBelowDesired"} <= set(fired), row["alerts_fired"]
    assert fired["NodeDown"]["subject"] == "cloud02", fired
    for name in ("NodeDown", "ReplicasBelowDesired"):
        alert = fired[name]
        assert alert["resolved_seconds"] is not None, alert
        assert 0 < alert["fired_seconds"] < alert["resolved_seconds"] <= row["seconds"], alert
    assert row["alert_polls"]["answered"] > 0


def assert_rotations(steps: dict) -> None:
    """Each rotation named its new secret and ended with it in use; the
    certificate's reached the front and all three nodes."""
    key = steps["rotate-session-key"]
    assert re.fullmatch(r"bootservice_secret_key_\d+", key["secret"]), key
    assert {"announce_seconds", "sign_seconds", "retire_seconds"} <= set(key), key
    password = steps["rotate-db-password"]
    assert password["user"] in ("dws", "dws_b"), password
    assert re.fullmatch(r"mysql_app_password_\d+", password["secret"]), password
    cert = steps["rotate-tls-cert"]
    assert re.fullmatch(r"nginx_tls_certificate_\d+", cert["secret"]), cert
    assert cert["nodes_with_new_certificate"] == 3 and int(cert["serial"], 16) > 0, cert


def assert_swarm_breakdown(report: dict, steps: dict) -> None:
    """Each timed step says when its new tasks started and turned healthy and
    when the old ones stopped, in an order that is possible; each new task
    when a worker was ready and when it turned healthy (or, for the broken
    release, unhealthy). Figures only: no speed is asserted."""
    assert report["swarm_timing"]["inconsistencies"] == []
    for name, new_tasks in TIMED_STEPS.items():
        b = steps[name]["swarm"]
        assert b["new_tasks"] >= new_tasks, (name, b)
        assert 0 <= b["first_started_s"] <= steps[name]["seconds"], (name, b)
        if name == "auto-rollback":
            continue  # its new tasks are the broken release's: below
        assert b["first_started_s"] <= b["first_healthy_s"] <= b["all_healthy_s"], (name, b)
        assert b["all_healthy_s"] <= steps[name]["seconds"] + 1, (name, b)
        for t in b["tasks"]:
            assert t["ready_s"] is not None and 0 <= t["ready_s"] <= t["healthy_s"], (name, t)
            assert t["first_probe_s"] <= t["healthy_s"] and t["probes_until_settled"] >= 1, t
    assert steps["heal"]["swarm"]["old_tasks_stopped"] >= 1
    for name in ("update", "rollback"):
        b = steps[name]["swarm"]
        assert b["old_tasks_stopped"] == 6, (name, b)
        assert b["first_healthy_s"] <= b["first_old_stopped_s"], (name, b)  # start-first
    # Start-first: the broken tasks never ran, so the 1.0 tasks they were to
    # replace kept serving; the rollback only removes the broken ones.
    tasks = steps["auto-rollback"]["swarm"]["tasks"]
    broken = [t for t in tasks if t["version"] == "2.1-broken"]
    assert broken and all(t["healthy_s"] is None for t in broken), tasks
    assert any(t["unhealthy_s"] for t in broken), tasks
    summary = report["swarm_timing"]["summary"]
    assert summary["healthy_tasks"] >= 17 and summary["median_healthy_s"] > 0, summary
