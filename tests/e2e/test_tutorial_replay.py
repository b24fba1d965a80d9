"""The tutorial replayed on the three-node swarm lab through the package (dws.replay)."""

from __future__ import annotations

from pathlib import Path

from dws import lab as lablib
from dws import replay


def test_tutorial_replay(swarm_lab: lablib.Lab, tmp_path: Path) -> None:
    """Steps 1-10: every step's outcome, zero failed requests, no lost writes."""
    report = replay.run(swarm_lab, tmp_path)
    assert report["failed_requests"] == 0
    assert report["lost_writes"] == 0
    assert report["writes"] > 0
