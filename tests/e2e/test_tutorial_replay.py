"""`dws replay` on the session's lab (after the other e2e tests): the tutorial's
ten steps under continuous traffic, zero failed requests, no lost writes."""

from __future__ import annotations

import json

from dws.probe import REPORT


def test_replay_has_zero_failed_requests_and_no_lost_writes(swarm_lab, run_dws):
    REPORT.unlink(missing_ok=True)
    ran = run_dws("replay", timeout=3600)
    assert ran.status == 0, ran.output[-4000:]
    report = json.loads(REPORT.read_text())
    steps = [s["name"] for s in report["steps"]]
    assert steps == [
        "deploy",
        "balance",
        "heal",
        "drain",
        "scale",
        "update",
        "rollback",
        "auto-rollback",
    ]
    assert report["failed_requests"] == 0, report["failure_samples"]
    assert report["lost_writes"] == 0
    assert report["writes"] > 0
    assert report["requests"] > 1000
    # `dws replay` on a lab that was up leaves the lab; without --keep the stack goes.
    assert "stack removed" in ran.output
