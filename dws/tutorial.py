"""`dws tutorial`: the tutorial's steps on the deployed lab, one after another.

Each step prints the commands as the tutorial writes them, runs them against
the lab's manager (cloud01), waits until the swarm shows the outcome, and
shows what a person should see: `docker service ps` and which replicas and
versions answer through the front load balancer. The stack stays up at the
end (six replicas at 1.0). `STEPS` is the tutorial's sequence; the replay
covers the same steps with continuous traffic and assertions.
"""

from __future__ import annotations

import calendar
import json
import shlex
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import requests

from dws import deploy, lab_tls
from dws import lab as lablib
from dws.probe import Swarm
from dws.util import REPO, StepFailed, run_command, wait_until

BOOT, NGINX, MYSQL = deploy.BOOT, deploy.NGINX, deploy.MYSQL
DRAIN_NODE = "cloud02"
WORKERS = ("cloud02", "cloud03")


@dataclass
class Context:
    """What a step works with: the lab, its swarm, and where to print."""

    lab: lablib.Lab
    out: Callable[[str], None] = print

    @property
    def swarm(self) -> Swarm:
        return Swarm(self.lab)

    def run(self, command: str, show: bool = True) -> str:
        """Print ``command`` as a user types it, run it against cloud01, print its output."""
        self.out(f"$ {command}")
        out = run_command(
            shlex.split(command),
            env=deploy.manager_env(self.lab),
            cwd=REPO,
            error=StepFailed,
            what=command,
        ).stdout.decode(errors="replace")
        if show and out.strip():
            self.out(out.rstrip())
        return out

    def wait(self, what: str, probe: Callable[[], object], timeout: float = 300) -> object:
        """Wait for the swarm to show ``what``; StepFailed after ``timeout``."""
        self.out(f"  ... waiting for {what}")
        return wait_until(what, probe, timeout, 1.0, error=StepFailed)

    def service_ps(self, service: str = BOOT) -> None:
        """The tutorial's `docker service ps` (running tasks, as its watch filtered them)."""
        self.run(
            f"docker service ps {service} --filter desired-state=running "
            "--format 'table {{.Name}}\t{{.Image}}\t{{.Node}}\t{{.CurrentState}}'"
        )

    def who_answers(self, requests_count: int = 24, quiet: bool = False) -> Counter:
        """GET /countries through the front; print and return counts by (replica, version)."""
        seen: Counter = Counter()
        failed = 0
        with lab_tls.session() as s:
            for _ in range(requests_count):
                try:
                    resp = s.get(f"{self.lab.lb_url}/countries", timeout=10)
                except requests.RequestException:
                    failed += 1
                    continue
                if resp.status_code != 200:
                    failed += 1
                    continue
                seen[(resp.headers.get("X-Served-By"), resp.headers.get("X-App-Version"))] += 1
        if quiet:
            return seen
        self.out(
            f"$ curl -s -D- --cacert {lab_tls.CA_CERT.relative_to(REPO)} "
            f"{self.lab.lb_url}/countries   (x{requests_count})"
        )
        for (replica, version), n in sorted(seen.items(), key=lambda kv: (str(kv[0][1]), -kv[1])):
            self.out(f"  {n:>3} answered by replica {replica} at version {version}")
        if failed:
            self.out(f"  {failed:>3} failed")
        return seen


@dataclass(frozen=True)
class Step:
    """One step of the tutorial."""

    name: str
    title: str
    run: Callable[[Context], None]


def _update_state(ctx: Context) -> dict:
    info = json.loads(ctx.lab.docker("service", "inspect", BOOT))[0]
    return info.get("UpdateStatus") or {}


def balance(ctx: Context) -> None:
    ctx.service_ps()
    seen = ctx.who_answers()
    if len({replica for replica, _ in seen}) < 2:
        raise StepFailed(f"only {len(seen)} replica(s) answered 24 requests")


def heal(ctx: Context) -> None:
    swarm = ctx.swarm
    tasks = swarm.converged(BOOT, len(swarm.tasks(BOOT)))
    victim = next((t for t in tasks or [] if t["Node"] in WORKERS), None)
    if victim is None:
        raise StepFailed("no running bootservice task on a worker to stop")
    node, container = swarm.task_container(victim["ID"])
    # The tutorial runs `docker stop` on the worker itself; here through that
    # node's own engine.
    ctx.out(f"[on {node}]")
    ctx.out(f"$ docker stop {victim['Name']}.{victim['ID']}")
    ctx.lab.node_docker(node, "stop", container)
    count = len(tasks)
    ctx.wait(
        f"Swarm to replace {victim['Name']}",
        lambda: (t := swarm.converged(BOOT, count)) and victim["ID"] not in {x["ID"] for x in t},
    )
    ctx.run(
        f"docker service ps {BOOT} --format 'table {{{{.Name}}}}\t{{{{.Node}}}}\t"
        "{{.DesiredState}}\t{{.CurrentState}}'"
    )


def drain(ctx: Context) -> None:
    swarm = ctx.swarm
    ctx.run(f"docker node update --availability drain {DRAIN_NODE}", show=False)
    ctx.wait(
        f"no task left on {DRAIN_NODE}",
        lambda: (
            swarm.converged(BOOT, len(swarm.tasks(BOOT)), not_on=DRAIN_NODE)
            and swarm.converged(NGINX, 2, not_on=DRAIN_NODE)
        ),
    )
    ctx.run("docker node ls")
    ctx.service_ps()
    ctx.who_answers(12)
    ctx.run(f"docker node update --availability active {DRAIN_NODE}", show=False)
    ctx.wait(f"nginx back on {DRAIN_NODE}", lambda: swarm.converged(NGINX, 3))
    ctx.run("docker node ls")


def scale(ctx: Context) -> None:
    ctx.run(f"docker service scale --detach {BOOT}=6", show=False)
    ctx.wait("6 running replicas", lambda: ctx.swarm.converged(BOOT, 6))
    ctx.run("docker service ls")
    ctx.service_ps()


def _update(ctx: Context, command: str, version: str) -> None:
    since = time.time()
    ctx.run(command, show=False)
    last: list[str] = []

    def done() -> bool:
        # What a person watching the page sees, printed when it changes.
        versions = Counter()
        for (_, v), n in ctx.who_answers(12, quiet=True).items():
            versions[v] += n
        now = [f"{v} x{n}" for v, n in sorted(versions.items(), key=lambda kv: str(kv[0]))]
        if now != last:
            ctx.out(f"  answering now (of 12 requests): {', '.join(now) or 'nothing'}")
            last[:] = now
        state = _update_state(ctx)
        started = state.get("StartedAt", "")
        # RFC 3339 in UTC: compare at second precision.
        fresh = started and calendar.timegm(time.strptime(started[:19], "%Y-%m-%dT%H:%M:%S"))
        return bool(fresh) and fresh >= since - 1 and state.get("State") == "completed"

    ctx.wait(f"the update to {version} to complete", done, timeout=400)
    ctx.service_ps()


def update(ctx: Context) -> None:
    _update(
        ctx,
        "docker service update --detach --update-parallelism 2 --update-delay 5s "
        f"--image {deploy.image('2.0')} {BOOT}",
        "2.0",
    )


def rollback(ctx: Context) -> None:
    _update(ctx, f"docker service update --detach --image {deploy.image('1.0')} {BOOT}", "1.0")


def broken_release(ctx: Context) -> None:
    ctx.run(f"docker service update --detach --image {deploy.image('2.1-broken')} {BOOT}", False)
    ctx.wait(
        "Swarm to roll the broken release back by itself",
        lambda: _update_state(ctx).get("State") == "rollback_completed",
        timeout=400,
    )
    ctx.run(
        f"docker service inspect {BOOT} --format '{{{{.UpdateStatus.State}}}}: "
        "{{.UpdateStatus.Message}}'"
    )
    ctx.wait("6 replicas at 1.0", lambda: ctx.swarm.converged(BOOT, 6, deploy.image("1.0")))
    ctx.service_ps()
    ctx.who_answers(12)


STEPS: tuple[Step, ...] = (
    Step("balance", "Load balancing: each request may land on another replica", balance),
    Step("heal", "Self-healing: stop a replica's container, Swarm starts a new one", heal),
    Step("drain", "Maintenance: drain cloud02, its tasks move; then make it Active", drain),
    Step("scale", "Scaling: six replicas of bootservice", scale),
    Step("update", "Rolling update to 2.0: two at a time, 5 s apart, new first", update),
    Step("rollback", "Back to 1.0", rollback),
    Step("auto-rollback", "A broken release: Swarm rolls it back by itself", broken_release),
)


def run(
    lab: lablib.Lab,
    pause: bool = False,
    out: Callable[[str], None] = print,
    ask: Callable[[str], str] = input,
) -> dict[str, float]:
    """Run every step; return seconds per step. ``pause`` waits for Enter between steps."""
    ctx = Context(lab, out)
    try:
        deployed = bool(Swarm(lab).tasks(BOOT))
    except lablib.LabError:
        deployed = False
    if not deployed:
        raise deploy.DeployError("the stack is not deployed (run: dws lab deploy)")
    seconds = {}
    for n, step in enumerate(STEPS, 1):
        out("")
        out(f"=== {n}/{len(STEPS)} {step.title}")
        started = time.monotonic()
        step.run(ctx)
        seconds[step.name] = round(time.monotonic() - started, 1)
        if pause and n < len(STEPS):
            ask("--- press Enter for the next step ---")
    out("")
    out(f"The stack stays up: {lab.lb_url}/countries  (dws watch; dws lab down removes all)")
    return seconds
