"""A replay in progress: its traffic source, its steps and plan, and the run's state.

Both the runner (dws.steps) and the report writer (dws.replay_output) read
these, so they live apart from either.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import requests

from dws import capacity, lab_tls, swarm_timing
from dws import deploy as deploy_mod
from dws import lab as lablib
from dws.probe import Probe, Swarm
from dws.replay_report import Audit
from dws.util import StepFailed, docker

BOOT = deploy_mod.BOOT


class Traffic(Protocol):
    """What the runner and the steps need of a traffic source (dws.probe.Probe)."""

    run_id: str
    records: list
    acknowledged: dict[str, tuple[int, str]]
    unknown: list[str]
    settled_by_repeat: int
    settled_after_last_step: int
    # The open-loop rate of the reads (0: paced readers), and the capacity
    # it was chosen from.
    open_rate: float
    capacity_rps: float | None

    @property
    def started_at(self) -> float: ...

    def start(self) -> None: ...

    def set_step(self, name: str) -> None: ...

    def finish(self) -> None: ...

    def stop(self) -> None: ...

    def of_step(self, step: str) -> list: ...

    def since(self, started: float) -> list: ...


def probe_traffic(lab: lablib.Lab, open_rate: float = 0.0) -> Traffic:
    """Pages, reads, searches and an idempotent writer through the lab's
    front; with `open_rate`, the reads open-loop at that many a second."""
    return Probe(
        lab.lb_url,
        deploy_mod.admin_credentials(),
        run_id=secrets.token_hex(3),
        verify=str(lab_tls.CA_CERT),
        open_rate=open_rate,
    )


@dataclass(frozen=True)
class Step:
    """One step of a replay: `action(run, row)` does it and fills `row` with figures."""

    name: str
    action: Callable[[Run, dict], None]
    # The service whose new tasks the step's swarm-time breakdown follows.
    timed_service: str = BOOT


@dataclass
class Plan:
    """A replay: its steps, where its report goes, what follows the audit."""

    steps: Sequence[Step]
    report: Path
    timeline: Path
    traffic: Callable[[lablib.Lab], Traffic] = probe_traffic
    # Follow the nodes' container events for the steps' swarm-time breakdowns.
    follow_events: bool = False
    # name -> check run after the write audit; its figures go into the report under name.
    after_audit: dict[str, Callable[[Run], dict]] = field(default_factory=dict)
    clean_up: Callable[[lablib.Lab], None] = deploy_mod.stack_removed
    extra: dict[str, Any] = field(default_factory=dict)
    # Measure the stack's capacity before the traffic starts, and offer the
    # open-loop reads at capacity.offered_rate of it.
    measure_capacity: bool = False


def open_loop(plan: Plan, rate: float | str) -> Plan:
    """`plan` with its probe's reads open-loop at `rate` a second, or at a
    rate chosen from the stack's measured capacity ("auto"); 0: as it is."""
    if rate == "auto":
        return dataclasses.replace(
            plan,
            traffic=partial(probe_traffic, open_rate=capacity.MIN_OFFERED_RPS),
            measure_capacity=True,
        )
    if float(rate) <= 0:
        return plan
    return dataclasses.replace(plan, traffic=partial(probe_traffic, open_rate=float(rate)))


def say(message: str) -> None:
    """One progress line (visible with -s)."""
    print(f"replay: {message}", flush=True)


def http_get(url: str, timeout: float = 5) -> requests.Response:
    """A GET of a lab address (HTTPS, the lab's CA) with a closed connection
    (tests run with warnings as errors)."""
    with lab_tls.session() as s:
        resp = s.get(url, timeout=timeout)
        resp.close()
        return resp


@dataclass
class Run:
    """A replay in progress: the lab, its swarm, the traffic, the steps' figures."""

    lab: lablib.Lab
    plan: Plan
    traffic: Traffic
    events: swarm_timing.EventLog | None = None
    rows: list[dict] = field(default_factory=list)
    # name, start, end (monotonic), wall_end of every step.
    spans: list[dict] = field(default_factory=list)
    audit: Audit | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    @property
    def swarm(self) -> Swarm:
        return Swarm(self.lab)

    def docker(self, *args: str, timeout: float = 300) -> str:
        """A user's `docker` command against the lab's manager; StepFailed if it fails."""
        return docker(*args, host=self.lab.manager_host, timeout=timeout, error=StepFailed)

    def start_traffic(self) -> None:
        """The traffic (and the event log) from now until the end of the run;
        first the stack's capacity, when the plan asks for it."""
        if self.plan.measure_capacity:
            found = capacity.measure(
                self.lab.lb_url,
                deploy_mod.admin_credentials(),
                self.traffic.run_id,
                verify=str(lab_tls.CA_CERT),
            )
            rate = capacity.offered_rate(found)
            self.traffic.open_rate = rate
            self.traffic.capacity_rps = found.rps
            self.extra["capacity"] = found.report()
            say(
                f"capacity {found.rps:g} requests/s (p99 within {found.bound_ms:g} ms); "
                f"offering {rate:g}/s open-loop"
            )
        if self.events is not None:
            self.events.start()
        self.traffic.start()

    @contextmanager
    def step(self, name: str) -> Iterator[dict]:
        """Run one step: the yielded dict collects its figures."""
        self.traffic.set_step(name)
        row: dict = {"name": name}
        self.rows.append(row)
        say(f"--- {name}")
        started = time.monotonic()
        self.spans.append({"name": name, "start": started, "end": started})
        try:
            yield row
        finally:
            row["seconds"] = round(time.monotonic() - started, 1)
            self.spans[-1]["end"] = time.monotonic()
            self.spans[-1]["wall_end"] = swarm_timing.wall_clock()
