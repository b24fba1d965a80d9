"""The tutorial replayed on the three-node swarm lab, with zero failed requests.

`run(lab)` is what `dws replay` and the e2e tier call.

The tutorial's steps, with build.py and stack.yml exactly as users run
them (README, "Deploy on your own swarm"), against the lab's manager
(DOCKER_HOST=tcp://cloud01:2375): deploy, balance, heal, three secret
rotations (`dws rotate`), drain, scale, update, rollback, auto-rollback,
faults the tutorial never tries (the database restarted, a node killed),
verify, then the stack is removed. A probe sends
pages, API reads and authenticated writes through the lab's front load
balancer the whole time.

The replay is `PLAN`, a list of steps from the library in dws.steps (deploy,
drain and node crash are shared with the replay with three database nodes)
and the steps of its own below, run by `dws.steps.run_plan`.
"""

from __future__ import annotations

import time
from collections import Counter

import requests

from dws import deploy as deploy_mod
from dws import lab as lablib
from dws import rotate
from dws.probe import REPORT
from dws.replay_run import Plan, Run, Step, open_loop
from dws.steps import (
    BOOT,
    DB_NODE,
    MYSQL,
    NGINX,
    Drain,
    NodeCrash,
    fresh_deploy,
    http_get,
    mark_command,
    nodes_answer,
    require,
    run_plan,
    say,
    settle_into_step,
    wait_for,
)

REPO = lablib.REPO
STACK = deploy_mod.STACK
TITLE = {"1.0": "国家(地区)列表", "2.0": "国家(地区)列表-2.0版本"}
DRAIN_NODE = "cloud02"
WORKERS = ("cloud02", "cloud03")
TIMELINE = REPORT.with_name("replay-timeline.png")
CRASH_NODE = "cloud02"  # a worker with replicas, not the database's node
REPLICAS = 6  # after the scale step
# Every update of the tutorial keeps the stack file's update settings.
UPDATE_CONFIG = (2, 5_000_000_000, "start-first")

image = deploy_mod.image

__all__ = ["PLAN", "REPORT", "TIMELINE", "run"]


def wait_update(run: Run, state: str, since: float, timeout: float, seen: dict | None = None):
    """Wait until the service's UpdateStatus reaches ``state`` for an update started after
    ``since`` (wall clock); return the UpdateStatus. ``seen`` collects {state: message}."""

    def check():
        status = deploy_mod.update_status(run.lab, BOOT, since)
        if not status:
            return None
        if seen is not None:
            seen.setdefault(status.get("State"), status.get("Message"))
        return status if status.get("State") == state else None

    return wait_for(f"{BOOT} update state {state}", check, timeout)


def every_replica_serves(run: Run, version: str, timeout: float = 60) -> int:
    """Every running replica (by host name) answers pages with ``version``'s title;
    returns how many replicas were checked."""
    hosts = run.swarm.container_hosts(BOOT)
    since = time.monotonic()

    def seen():
        pages = [r for r in run.traffic.since(since) if r.kind == "page" and r.status == 200]
        wrong = [r for r in pages if r.title != TITLE[version] or r.version != version]
        require(not wrong, f"pages after the update not at {version}: {wrong[:3]}")
        return hosts <= {r.served_by for r in pages}

    wait_for(f"pages from all {len(hosts)} replicas at {version}", seen, timeout, interval=1.0)
    return len(hosts)


# ---------------------------------------------------------------- steps


def deploy(run: Run, row: dict) -> None:
    """Step 1: a fresh deploy, every Active node answers on port 443; the traffic
    starts and runs for the rest of the replay (step 2 on)."""
    fresh_deploy(run, row)
    nodes_answer(run)
    run.start_traffic()


def balance(run: Run, row: dict) -> None:
    """Three different replicas answer through the front."""

    def served_by() -> int:
        return len({r.served_by for r in run.traffic.of_step("balance") if r.served_by})

    wait_for("3 different X-Served-By", lambda: served_by() >= 3, 60, interval=1.0)
    time.sleep(3)
    row["served_by"] = served_by()
    nodes_answer(run)


def heal(run: Run, row: dict) -> None:
    """The tutorial's `docker stop` of a replica on a worker: Swarm starts a new task."""
    before = run.swarm.converged(BOOT, 3)
    require(before, "bootservice is not 3/3 before heal")
    victim = next((t for t in before if t["Node"] in WORKERS), None)
    require(victim, f"no bootservice task on a worker: {before}")
    node, container = run.swarm.task_container(victim["ID"])
    started = time.monotonic()
    mark_command(row)
    # The tutorial's `docker stop` on the worker, through that node's engine.
    run.lab.node_docker(node, "stop", container)

    def replaced():
        tasks = run.swarm.converged(BOOT, 3)
        return tasks if tasks and victim["ID"] not in {t["ID"] for t in tasks} else None

    healed = wait_for("a new task and 3/3 again", replaced, 120, interval=0.5)
    row["heal_seconds"] = round(time.monotonic() - started, 1)
    require(
        {t["ID"] for t in healed} - {t["ID"] for t in before},
        f"no new task replaced the stopped one after {row['heal_seconds']} s",
    )
    say(f"stopped {victim['Name']} on {node}; 3/3 again in {row['heal_seconds']} s")
    nodes_answer(run)


def rotation(kind: str):
    """`dws rotate KIND` under traffic: the rotation's figures in the row, every
    node answers after it. (The probe's logged-in visitor and its open form
    are the promise that nobody was logged out.)"""

    def step(run: Run, row: dict) -> None:
        started = time.monotonic()
        mark_command(row)
        row.update(rotate.run(run.lab, kind, retire=True, say=lambda line: say(f"  {line}")))
        row["rotated_seconds"] = round(time.monotonic() - started, 1)
        if kind == "tls-cert":
            serial = int(row["serial"], 16)
            seen = {"front": rotate.served_serial("127.0.0.1", run.lab.lb_port)}
            seen |= {node: rotate.served_serial(ip) for node, ip in run.lab.nodes.items()}
            require(
                all(s == serial for s in seen.values()),
                f"certificates after the rotation: { {k: f'{v:x}' for k, v in seen.items()} }, "
                f"not {row['serial']}",
            )
            row["nodes_with_new_certificate"] = len(seen) - 1
        nodes_answer(run)
        say(f"rotated the {kind} in {row['rotated_seconds']} s")

    return step


def database_stayed(run: Run, row: dict, started: float) -> None:
    """The drain of a worker leaves the database where it is."""
    where = run.swarm.tasks(MYSQL)[0]["Node"]
    require(where == DB_NODE, f"the drain moved the database to {where}")


def scale(run: Run, row: dict) -> None:
    """`docker service scale --detach dws_bootservice=6`."""
    started = time.monotonic()
    mark_command(row)
    run.docker("service", "scale", "--detach", f"{BOOT}={REPLICAS}")
    wait_for(
        f"bootservice {REPLICAS}/{REPLICAS}",
        lambda: run.swarm.converged(BOOT, REPLICAS),
        180,
        interval=1.0,
    )
    row["converge_seconds"] = round(time.monotonic() - started, 1)
    nodes_answer(run)


def update_to(version: str, *options: str):
    """The tutorial's `docker service update [OPTIONS] --image .../bootservice:<v>-dws`:
    every replica replaced, the update completed after its monitor window,
    every replica serving ``version``."""

    def step(run: Run, row: dict) -> None:
        since = time.time()
        started = time.monotonic()
        mark_command(row)
        run.docker("service", "update", "--detach", *options, "--image", image(version), BOOT)
        wait_for(
            f"{REPLICAS} replicas at {version}",
            lambda: run.swarm.converged(BOOT, REPLICAS, image(version)),
            300,
            interval=0.5,
        )
        row["replicas_replaced_seconds"] = round(time.monotonic() - started, 1)
        wait_update(run, "completed", since, 300)
        row["update_completed_seconds"] = round(time.monotonic() - started, 1)
        cfg = run.swarm.service(BOOT)["Spec"]["UpdateConfig"]
        got = (cfg["Parallelism"], cfg.get("Delay"), cfg["Order"])
        require(got == UPDATE_CONFIG, f"update config {got}, not {UPDATE_CONFIG}")
        row["replicas_checked"] = every_replica_serves(run, version)
        nodes_answer(run)
        say(
            f"update to {version}: replicas replaced in {row['replicas_replaced_seconds']} s, "
            f"update completed (after monitor) in {row['update_completed_seconds']} s"
        )

    return step


def auto_rollback(run: Run, row: dict) -> None:
    """A broken release (2.1-broken): Swarm rolls back to 1.0 by itself, and
    every page answered meanwhile is 1.0's."""
    since = time.time()
    started = time.monotonic()
    mark_command(row)
    run.docker("service", "update", "--detach", "--image", image("2.1-broken"), BOOT)
    states: dict = {}
    wait_update(run, "rollback_completed", since, 400, seen=states)
    row["rolled_back_seconds"] = round(time.monotonic() - started, 1)
    # Swarm started the rollback itself (failure_action: rollback), e.g.
    # "update rolled back due to failure or early termination of task ...".
    require("rollback_started" in states, f"no automatic rollback seen: {states}")
    row["trigger"] = states["rollback_started"]
    spec_image = run.swarm.service(BOOT)["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
    require(spec_image.startswith(image("1.0")), f"the service's image after it: {spec_image}")
    wait_for(
        f"{REPLICAS} replicas at 1.0",
        lambda: run.swarm.converged(BOOT, REPLICAS, image("1.0")),
        120,
    )
    pages = [r for r in run.traffic.of_step("auto-rollback") if r.kind == "page"]
    not_1 = [
        r for r in pages if r.status == 200 and (r.title != TITLE["1.0"] or r.version != "1.0")
    ]
    require(
        pages and not not_1,
        f"{len(not_1)} of {len(pages)} pages not at 1.0 during auto-rollback: {not_1[:3]}",
    )
    nodes_answer(run)
    say(f"Swarm rolled back by itself in {row['rolled_back_seconds']} s: {row['trigger']}")


def db_restart(run: Run, row: dict) -> None:
    """`docker service update --force dws_mysql` under traffic: requests that
    need the database answer 503 quickly, nginx's own health answers all the
    while, and the database is back with every acknowledged write (audited
    after the run)."""
    settle_into_step()
    before = {t["ID"] for t in run.swarm.tasks(MYSQL)}
    started = time.monotonic()
    mark_command(row)
    run.docker("service", "update", "--detach", "--force", MYSQL)
    health: Counter = Counter()

    def back() -> bool:
        # nginx answers without the database; counted while we wait.
        try:
            health[http_get(f"{run.lab.lb_url}/nginx-health", timeout=5).status_code] += 1
        except requests.RequestException as exc:
            health[type(exc).__name__] += 1
        tasks = run.swarm.converged(MYSQL, 1)
        return bool(tasks and not {t["ID"] for t in tasks} & before) and (
            http_get(f"{run.lab.lb_url}/readyz").status_code == 200
        )

    wait_for("the database back (a new task, /readyz 200)", back, 300, interval=0.5)
    row["database_back_seconds"] = round(time.monotonic() - started, 1)
    row["nginx_health_during"] = {str(k): v for k, v in health.items()}
    require(set(health) == {200}, f"nginx's own health failed during the restart: {health}")
    answered_503 = [r for r in run.traffic.of_step("db-restart") if r.status == 503]
    row["worst_503_seconds"] = round(max((r.seconds for r in answered_503), default=0.0), 3)
    row["answered_503"] = len(answered_503)
    nodes_answer(run)
    say(
        f"database back in {row['database_back_seconds']} s; {len(answered_503)} requests "
        f"answered 503, the slowest in {row['worst_503_seconds']} s"
    )


def replicas_on_crash_node(run: Run) -> dict:
    """Before the crash: all replicas run, some of them on the node to kill."""
    require(CRASH_NODE != DB_NODE, f"{CRASH_NODE} holds the database")
    before = run.swarm.converged(BOOT, REPLICAS)
    require(before, f"bootservice is not {REPLICAS}/{REPLICAS} before the crash")
    on_node = [t for t in before if t["Node"] == CRASH_NODE]
    require(on_node, f"no bootservice replica on {CRASH_NODE} to lose: {before}")
    return {"replicas_lost": len(on_node)}


PLAN = Plan(
    steps=(
        Step("deploy", deploy),
        Step("balance", balance),
        Step("heal", heal),
        Step("rotate-session-key", rotation("session-key")),
        Step("rotate-db-password", rotation("db-password")),
        Step("rotate-tls-cert", rotation("tls-cert")),
        Step(
            "drain",
            Drain(DRAIN_NODE, left={BOOT: 3, NGINX: 2}, drained=database_stayed),
        ),
        Step("scale", scale),
        Step("update", update_to("2.0", "--update-parallelism", "2", "--update-delay", "5s")),
        Step("rollback", update_to("1.0")),
        Step("auto-rollback", auto_rollback),
        Step("db-restart", db_restart, timed_service=MYSQL),
        Step("node-crash", NodeCrash(CRASH_NODE, REPLICAS, before=replicas_on_crash_node)),
    ),
    report=REPORT,
    timeline=TIMELINE,
    follow_events=True,
)


def run(lab: lablib.Lab, remove_stack: bool = True, open_rate: float | str = 0.0) -> dict:
    """Every step of PLAN on a running lab: every step's outcome, zero failed
    requests, no lost writes (StepFailed otherwise). Returns the report written
    to REPORT.

    The first step deploys (or re-deploys) the stack; at the end it is removed
    unless ``remove_stack`` is false.
    """
    return run_plan(lab, open_loop(PLAN, open_rate), remove_stack=remove_stack)
