"""The tutorial replayed on the three-node swarm lab through the package (dws.replay)."""

from __future__ import annotations

from pathlib import Path

from dws import lab as lablib
from dws import replay

STEP_FIGURES = {"requests", "failures", "retried", "p50_ms", "p99_ms", "max_ms"}


def test_tutorial_replay(swarm_lab: lablib.Lab, tmp_path: Path) -> None:
    """Every step's outcome and figures; no failure, slow request or retry beyond the
    bounds; no write lost or applied twice; the timeline drawn."""
    report = replay.run(swarm_lab, tmp_path)
    assert report["violations"] == []
    steps = {row["name"]: row for row in report["steps"]}
    assert {"db-restart", "node-crash"} <= set(steps)
    for name, row in steps.items():
        assert STEP_FIGURES <= set(row), name
        assert row["failures"] == 0, name
    writes = report["writes"]
    assert writes["acknowledged_writes"] > 0
    assert writes["lost_writes"] == 0 and writes["duplicated_writes"] == 0
    assert writes["wrong_content"] == 0
    assert replay.TIMELINE.stat().st_size > 10_000
