"""`dws replay` on the session's lab (after the other e2e tests): the tutorial's
ten steps under continuous traffic, zero failed requests, no lost writes."""

from __future__ import annotations

import json

from dws.probe import REPORT
from dws.replay import TIMELINE

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
