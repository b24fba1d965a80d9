"""`dws replay` on the session's lab (after the other e2e tests): the tutorial's
ten steps under continuous traffic, zero failed requests, no lost writes; then
`dws replay --db-nodes 3`: the same promises while each node, each holding a
Galera node, is drained, the database restarts node by node and a node dies."""

from __future__ import annotations

import json

from dws.probe import REPORT
from dws.replay import TIMELINE
from dws.replay_ha import REPORT_HA, TIMELINE_HA

STEP_FIGURES = {"requests", "failures", "retried", "p50_ms", "p99_ms", "max_ms"}


def test_replay_keeps_every_promise(swarm_lab, run_dws):
    """`dws replay`: every step's outcome and figures; no failure, slow request or
    retry beyond the bounds; no write lost or applied twice; the timeline drawn."""
    REPORT.unlink(missing_ok=True)
    TIMELINE.unlink(missing_ok=True)
    ran = run_dws("replay", timeout=3600)
    assert ran.status == 0, ran.output[-4000:]
    report = json.loads(REPORT.read_text())
    assert report["violations"] == []
    steps = {row["name"]: row for row in report["steps"]}
    assert list(steps) == [
        "deploy",
        "balance",
        "heal",
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
    writes = report["writes"]
    assert writes["acknowledged_writes"] > 0
    assert writes["lost_writes"] == 0 and writes["duplicated_writes"] == 0
    assert writes["wrong_content"] == 0
    assert TIMELINE.stat().st_size > 10_000
    # `dws replay` on a lab that was up leaves the lab; without --keep the stack goes.
    assert "stack removed" in ran.output


def test_replay_with_three_database_nodes_keeps_every_promise(swarm_lab, run_dws):
    """`dws replay --db-nodes 3`: one cluster started once; every drain, the rolling
    restart and the crash of a database node's swarm node pass with no failed
    request and no lost or doubled write; each step ends with 3 synced nodes."""
    REPORT_HA.unlink(missing_ok=True)
    TIMELINE_HA.unlink(missing_ok=True)
    ran = run_dws("replay", "--db-nodes", "3", timeout=3600)
    assert ran.status == 0, ran.output[-4000:]
    report = json.loads(REPORT_HA.read_text())
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
        return swarm_lab.docker("node", "inspect", node, "--format", "{{json .Spec.Labels}}")

    assert [node for node in swarm_lab.nodes if "dws.db" in labels(node)] == ["cloud03"]
