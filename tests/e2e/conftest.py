"""Fixtures of the e2e tier: one three-node swarm lab for the whole session.

`dws lab up` brings it up on Engine 26 and `dws lab down` removes it at the
end, also when a test fails; a test that needs Engine 20.10 (the
three-database-node replay) swaps it for a lab on that engine. Every test
asks for the lab state it needs, whatever ran before it: `bare_check`
(`dws check --lab` on the lab as `dws lab up` left it, taken before
anything is deployed), `deployed_stack` (`dws lab deploy`, once),
`fresh_stack` (the stack as that deploy leaves it, deployed again if a test
changed or removed it), `stack_running` (any running stack) and
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
from dws.replay_ha import REPORT_HA

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


class Labs:
    """The session's one lab, on the Docker Engine the running test needs.

    A lab's names are fixed, so one runs at a time: asking for the other
    engine takes the lab down and brings it up again on that one. Tests that
    need Engine 20.10 run last in the default order, so a session swaps once.
    """

    def __init__(self, timings: dict[str, float]) -> None:
        self.timings = timings
        self.current: lablib.Lab | None = None
        self.reused = False

    def on(self, engine: str = lablib.DEFAULT_ENGINE) -> lablib.Lab:
        """The lab with nodes on ``engine``; brought up (or swapped) if needed."""
        if self.current is None and os.environ.get("DWS_E2E_REUSE_LAB") == "1":
            if lablib.STATE_FILE.exists():
                _BARE.append(_run("check", "--lab"))
                self.current, self.reused = lablib.Lab.load(), True
        if self.current is not None and self.current.engine == engine:
            return self.current
        if self.reused:
            pytest.fail(
                f"the reused lab runs Engine {self.current.engine}; this test needs {engine} "
                f"(dws lab down && dws lab up --engine {engine})",
                pytrace=False,
            )
        if self.current is not None:
            self.down()
        up = _run("lab", "up", "--port", "0", "--http-port", "0", "--engine", engine, timeout=1200)
        self.timings.setdefault(f"lab_up_seconds_engine_{engine}", up.seconds)
        if up.status != 0:
            _run("lab", "down")
            pytest.fail(f"dws lab up failed ({up.status}): {up.output[-800:]}", pytrace=False)
        self.current, self.reused = lablib.Lab.load(), False
        if not _BARE:
            # Before any test deploys: what `dws check` says of the bare swarm.
            _BARE.append(_run("check", "--lab"))
        return self.current

    def down(self) -> None:
        """`dws lab down` of a lab this session brought up."""
        if self.current is not None and not self.reused:
            down = _run("lab", "down", timeout=600)
            self.timings.setdefault(f"lab_down_seconds_engine_{self.current.engine}", down.seconds)
        self.current = None


@pytest.fixture(scope="session")
def labs(timings) -> Iterator[Labs]:
    """The session's lab, brought up on demand; `dws lab down` at the end, also
    when a test fails. With DWS_E2E_REUSE_LAB=1 a running lab is used and left."""
    held = Labs(timings)
    try:
        yield held
    finally:
        held.down()
        # The replays wrote their reports already; add the lab commands' wall times.
        for report in (REPORT, REPORT_HA):
            if report.exists():
                data = json.loads(report.read_text())
                data.setdefault("lab", {}).update(timings)
                report.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        print(f"\nlab timings: {timings}", flush=True)


@pytest.fixture
def swarm_lab(labs) -> lablib.Lab:
    """A running lab on the default engine (26)."""
    return labs.on(lablib.DEFAULT_ENGINE)


@pytest.fixture
def older_engine_lab(labs) -> lablib.Lab:
    """A running lab whose nodes run Docker Engine 20.10."""
    return labs.on("20.10")


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
def bare_check(labs) -> Ran:
    """`dws check --lab` on the lab as `dws lab up` left it, taken when the lab
    came up (before any test could deploy)."""
    labs.on()
    return _BARE[0]


def _deploy(lab: lablib.Lab, timings: dict[str, float]) -> Deployed:
    # With the monitoring override: every later deploy and replay keeps it.
    ran = _run("lab", "deploy", "--monitoring", timeout=2400)
    timings.setdefault("lab_deploy_seconds", ran.seconds)
    return Deployed(ran, front_answers(lab) if ran.status == 0 else [])


@pytest.fixture(scope="session")
def deployed_stack(labs, timings) -> Deployed:
    """`dws lab deploy` once for the session."""
    return _deploy(labs.on(), timings)


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
def tutorial_ran(labs, deployed_stack, timings) -> AfterTutorial:
    """`dws tutorial` once, on the stack as deployed; the swarm's state and the
    front's answers are taken at once after it, before another test changes them."""
    _require_deployed(deployed_stack)
    swarm_lab = labs.on()
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
