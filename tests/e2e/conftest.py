"""Fixtures of the e2e tier: one three-node swarm lab for the whole session.

`dws lab up` brings it up once and `dws lab down` removes it at the end, also
when a test fails. Every test asks for the lab state it needs, whatever ran
before it: `bare_check` (`dws check --lab` on the lab as `dws lab up` left
it, taken before anything is deployed), `deployed_stack` (`dws lab deploy`,
once), `fresh_stack` (the stack as that deploy leaves it, deployed again if
a test changed or removed it), `stack_running` (any running stack) and
`tutorial_ran` (`dws tutorial`, once, and what served right after it). With
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
import requests

from dws import deploy, lab_tls
from dws import lab as lablib
from dws.probe import REPORT, Swarm

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
    """A running lab: `dws lab up --port 0 --http-port 0` once, `dws lab down` afterwards."""
    if os.environ.get("DWS_E2E_REUSE_LAB") == "1" and lablib.STATE_FILE.exists():
        _BARE.append(_run("check", "--lab"))
        yield lablib.Lab.load()
        return
    up = _run("lab", "up", "--port", "0", "--http-port", "0", timeout=1200)
    timings["lab_up_seconds"] = up.seconds
    if up.status != 0:
        _run("lab", "down")
        pytest.fail(f"dws lab up failed ({up.status}): {up.output[-800:]}", pytrace=False)
    try:
        # Before any test deploys: what `dws check` says of the bare swarm.
        _BARE.append(_run("check", "--lab"))
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


@dataclass
class Deployed:
    """`dws lab deploy` and what the front answered right after it."""

    ran: Ran
    responses: list[requests.Response]


@dataclass
class AfterTutorial:
    """`dws tutorial`, and the stack's state and answers right after it."""

    ran: Ran
    converged: list[dict] | None
    tasks: list[dict]
    responses: list[requests.Response]


def front_answers(lab: lablib.Lab, count: int = 30) -> list[requests.Response]:
    """`count` GET /countries through the lab's front."""
    with lab_tls.session() as s:
        return [s.get(f"{lab.lb_url}/countries", timeout=10) for _ in range(count)]


_BARE: list[Ran] = []


@pytest.fixture(scope="session")
def bare_check(swarm_lab) -> Ran:
    """`dws check --lab` on the lab as `dws lab up` left it, taken when the lab
    came up (before any test could deploy)."""
    return _BARE[0]


def _deploy(lab: lablib.Lab, timings: dict[str, float]) -> Deployed:
    ran = _run("lab", "deploy", timeout=2400)
    timings.setdefault("lab_deploy_seconds", ran.seconds)
    return Deployed(ran, front_answers(lab) if ran.status == 0 else [])


@pytest.fixture(scope="session")
def deployed_stack(swarm_lab, timings) -> Deployed:
    """`dws lab deploy` once for the session."""
    return _deploy(swarm_lab, timings)


def _require_deployed(deployed: Deployed) -> None:
    if deployed.ran.status != 0:
        pytest.fail(f"dws lab deploy failed: {deployed.ran.output[-2000:]}", pytrace=False)


@pytest.fixture
def fresh_stack(swarm_lab, deployed_stack, timings) -> lablib.Lab:
    """The stack as `dws lab deploy` leaves it: 3 replicas at 1.0 (deployed
    again if a test before scaled, updated or removed it)."""
    _require_deployed(deployed_stack)
    if not Swarm(swarm_lab).converged(deploy.BOOT, 3, deploy.image("1.0")):
        _require_deployed(_deploy(swarm_lab, timings))
    return swarm_lab


@pytest.fixture
def stack_running(swarm_lab, deployed_stack, timings) -> lablib.Lab:
    """A deployed stack with bootservice running (deployed again if a replay removed it)."""
    _require_deployed(deployed_stack)
    if not deploy.stack_exists(swarm_lab) or not Swarm(swarm_lab).tasks(deploy.BOOT):
        _require_deployed(_deploy(swarm_lab, timings))
    return swarm_lab


@pytest.fixture(scope="session")
def tutorial_ran(swarm_lab, deployed_stack, timings) -> AfterTutorial:
    """`dws tutorial` once, on the stack as deployed; the swarm's state and the
    front's answers are taken at once after it, before another test changes them."""
    _require_deployed(deployed_stack)
    swarm = Swarm(swarm_lab)
    if not swarm.converged(deploy.BOOT, 3, deploy.image("1.0")):
        _require_deployed(_deploy(swarm_lab, timings))
    ran = _run("tutorial", timeout=2400)
    timings["tutorial_seconds"] = ran.seconds
    return AfterTutorial(
        ran,
        swarm.converged(deploy.BOOT, 6, deploy.image("1.0")),
        swarm.tasks(deploy.BOOT),
        front_answers(swarm_lab, 40),
    )
