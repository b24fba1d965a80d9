"""Fixtures of the e2e tier: the three-node swarm lab, up for the session.

The lab is always torn down at the end, also when the test fails. With
DWS_E2E_REUSE_LAB=1 an already running lab (`dws lab up`) is used
and left running, for iterating on the test by hand.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator

import pytest

from dws import lab as lablib
from dws.probe import REPORT


@pytest.fixture(scope="session")
def swarm_lab() -> Iterator[lablib.Lab]:
    """A running lab: `lab.up` on a free loopback port, `lab.down` afterwards."""
    if os.environ.get("DWS_E2E_REUSE_LAB") == "1" and lablib.STATE_FILE.exists():
        yield lablib.Lab.load()
        return
    started = time.monotonic()
    try:
        lab = lablib.up(lb_port=0)
    except lablib.LabError as exc:
        pytest.fail(f"lab up failed: {exc}", pytrace=False)
    up_seconds = round(time.monotonic() - started, 1)
    try:
        yield lab
    finally:
        started = time.monotonic()
        lablib.down()
        down_seconds = round(time.monotonic() - started, 1)
        # The replay wrote its report already; add the lab's own figures.
        if REPORT.exists():
            data = json.loads(REPORT.read_text())
            data["lab"] = {"up_seconds": up_seconds, "down_seconds": down_seconds}
            REPORT.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        print(f"\nlab: up {up_seconds} s, down {down_seconds} s", flush=True)
