"""Fixtures of the e2e tier: one three-node swarm lab for the whole session.

`dws lab up` brings it up once (the tests then run `dws lab deploy`,
`dws tutorial`, `dws watch` and `dws replay` on it, in that order), and
`dws lab down` removes it at the end, also when a test fails. With
DWS_E2E_REUSE_LAB=1 an already running lab (`dws lab up`) is used and left
running, for iterating on the tests by hand.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from dws import lab as lablib
from dws.probe import REPORT

LOGS = REPORT.parent


@dataclass
class Ran:
    """A finished `dws` command: its status, combined output and wall time."""

    args: tuple[str, ...]
    status: int
    output: str
    seconds: float


def _run(*args: str, timeout: float = 1800, env: dict[str, str] | None = None) -> Ran:
    """Run `python -m dws ARGS` as a user would; keep its output under build/reports/."""
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "dws", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )
    ran = Ran(args, proc.returncode, proc.stdout, round(time.monotonic() - started, 1))
    LOGS.mkdir(parents=True, exist_ok=True)
    (LOGS / f"e2e-dws-{'-'.join(a for a in args if not a.startswith('-'))}.log").write_text(
        proc.stdout
    )
    print(f"\n$ dws {' '.join(args)}  -> {ran.status} in {ran.seconds} s", flush=True)
    print("\n".join(proc.stdout.rstrip().splitlines()[-15:]), flush=True)
    return ran


@pytest.fixture(scope="session")
def run_dws() -> Callable[..., Ran]:
    """Run a `dws` command through the package; returns a Ran."""
    return _run


@pytest.fixture(scope="session")
def timings() -> dict[str, float]:
    """Wall times of the lab's commands, added to the replay's report at the end."""
    return {}


@pytest.fixture(scope="session")
def swarm_lab(timings) -> Iterator[lablib.Lab]:
    """A running lab: `dws lab up --port 0` once, `dws lab down` afterwards."""
    if os.environ.get("DWS_E2E_REUSE_LAB") == "1" and lablib.STATE_FILE.exists():
        yield lablib.Lab.load()
        return
    up = _run("lab", "up", "--port", "0", timeout=1200)
    timings["lab_up_seconds"] = up.seconds
    if up.status != 0:
        _run("lab", "down")
        pytest.fail(f"dws lab up failed ({up.status}): {up.output[-800:]}", pytrace=False)
    try:
        yield lablib.Lab.load()
    finally:
        down = _run("lab", "down", timeout=600)
        timings["lab_down_seconds"] = down.seconds
        # The replay wrote its report already; add the lab's own figures.
        if REPORT.exists():
            data = json.loads(REPORT.read_text())
            data["lab"] = timings
            REPORT.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        print(f"\nlab timings: {timings}", flush=True)
