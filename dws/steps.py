"""The replays' library of steps, and the runner that runs a list of them under traffic.

A replay is a `Plan`: a list of `Step`s (a name and a function of the `Run`
and the step's row of figures), where its report and timeline go, and what
runs after the write audit. `run_plan` starts from the plan's first step
(which deploys and starts the traffic), times every step and labels the
traffic's requests with it, lets the traffic finish, audits the writes,
writes the report and removes the stack. A step that does not show its
outcome raises StepFailed with its figures; so does a report with a broken
promise.

The traffic is any `Traffic` (the plan's `traffic` factory); today the
closed-loop `dws.probe.Probe`. Steps shared by both replays live here
(deploy, drain, node crash, the checks after every step); dws.replay and
dws.replay_ha hold their own steps and their plans.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests

from dws import deploy as deploy_mod
from dws import lab as lablib
from dws import lab_tls, monitoring, stack_vars, swarm_timing
from dws.probe import wait_for
from dws.replay_output import write_report
from dws.replay_report import MAX_SECONDS, Audit, audit_writes
from dws.replay_run import Plan, Run, Traffic, http_get, say
from dws.util import StepFailed, require

BOOT, NGINX, MYSQL = deploy_mod.BOOT, deploy_mod.NGINX, deploy_mod.MYSQL
DB_NODE = deploy_mod.DB_NODE  # labelled dws.db=true: never the node that gets drained
# What Prometheus must raise, and then resolve, when a node with replicas
# dies (services/prometheus/alerts.yml); how long after the node is back.
NODE_CRASH_ALERTS = ("NodeDown", "ReplicasBelowDesired")
ALERTS_RESOLVE_SECONDS = 120
# The step the traffic's requests carry after the last step (not in any step's figures).
AFTER_STEPS = "verify"


def run_plan(lab: lablib.Lab, plan: Plan, remove_stack: bool = True) -> dict:
    """Every step of `plan` on a running lab; the report written to plan.report.

    StepFailed if a step fails or the report lists a broken promise. The stack
    is removed at the end (plan.clean_up) unless ``remove_stack`` is false.
    """
    plan.report.parent.mkdir(parents=True, exist_ok=True)
    deploy_mod.ensure_secrets(lab)  # the writer needs the administrator's password
    run = Run(
        lab,
        plan,
        plan.traffic(lab),
        events=swarm_timing.EventLog(lab, lab.nodes) if plan.follow_events else None,
        extra=dict(plan.extra),
    )
    try:
        for step in plan.steps:
            with run.step(step.name) as row:
                step.action(run, row)
        finish_traffic(run)
        for name, check in plan.after_audit.items():
            run.extra[name] = check(run)
    finally:
        run.traffic.stop()
        if run.events is not None:
            run.events.stop()
        report = write_report(run)
        if remove_stack:
            started = time.monotonic()
            plan.clean_up(lab)
            say(f"stack removed in {time.monotonic() - started:.0f} s")
    check_promises(report, plan.report)
    return report


def finish_traffic(run: Run) -> None:
    """After the last step: let the writes of unknown outcome settle, stop the
    traffic, audit every write against the database."""
    run.traffic.set_step(AFTER_STEPS)
    run.traffic.finish()
    late = run.traffic.settled_after_last_step
    if late:
        say(f"{late} write(s) of unknown outcome settled by repeats after the last step")
    run.audit = audit_run(run.lab.lb_url, run.traffic)


def check_promises(report: dict, path: Path) -> None:
    """StepFailed, one line with the figures, if the report lists a broken promise."""
    problems = report["violations"]
    writes = report["writes"]
    require(
        not problems,
        f"{len(problems)} broken promise(s): {'; '.join(problems)} "
        f"({report['requests']} requests, {report['failures']} failed; report: {path})",
    )
    require(
        writes["acknowledged_writes"] > 0,
        f"the probe made no successful write ({report['requests']} requests; report: {path})",
    )


def audit_run(base_url: str, traffic: Traffic) -> Audit:
    """Every row of the run (by its name tag) from the API, against what the
    writer was told."""
    tag = f"e2e-{traffic.run_id}-"
    rows: list[dict] = []
    with lab_tls.session() as s:
        page = 1
        while True:
            resp = s.get(
                f"{base_url}/api/v1/countries",
                params={"countryname": tag, "rows": 100, "page": page},
                timeout=30,
            )
            require(
                resp.status_code == 200,
                f"audit read failed: {resp.status_code} {resp.text[:300]}",
            )
            data = resp.json()
            rows += data["list"]
            if not data["hasNextPage"]:
                break
            page += 1
    return audit_writes(traffic.acknowledged, traffic.unknown, rows)


# ---------------------------------------------------------------- checks


def nodes_answer(run: Run) -> dict[str, int]:
    """GET /countries on port 443 of every Active node; every one must answer 200."""
    codes = {}
    for node in run.swarm.active_nodes():
        codes[node] = http_get(f"https://{run.lab.nodes[node]}/countries").status_code
    require(all(c == 200 for c in codes.values()), f"Active nodes on port 443: {codes}")
    return codes


def mark_command(row: dict) -> None:
    """Note the wall time of the step's `docker` command: the origin of the
    step's swarm-time breakdown in the report."""
    row["command_at"] = swarm_timing.wall_clock()


def settle_into_step() -> None:
    """Let the requests of the previous step finish before a fault, so that
    every request the fault touches is counted in the fault's step."""
    time.sleep(MAX_SECONDS)


def node_status(run: Run, node: str) -> str | None:
    """The swarm's Status of a node (Ready, Down, ...)."""
    return run.swarm.nodes().get(node, {}).get("Status")


def write_one(run: Run, prefix: str) -> tuple[int, str]:
    """One country created through the front before a fault: (id, name)."""
    name = f"{prefix}-{secrets.token_hex(4)}"
    with lab_tls.session() as s:
        resp = s.post(
            f"{run.lab.lb_url}/api/v1/countries",
            auth=deploy_mod.admin_credentials(),
            timeout=10,
            json={"countryname": name, "countrycode": "DR"},
        )
        require(resp.status_code == 201, f"a write before the step: {resp.status_code} {resp.text}")
        return resp.json()["id"], name


def read_back(run: Run, written: tuple[int, str]) -> None:
    """The country written before the fault reads back through the front."""
    row_id, name = written
    got = http_get(f"{run.lab.lb_url}/api/v1/countries/{row_id}", timeout=10)
    require(
        got.status_code == 200 and got.json().get("countryname") == name,
        f"the write before the step ({name}, id {row_id}): {got.status_code} {got.text[:300]}",
    )


# ---------------------------------------------------------------- shared steps


def fresh_deploy(
    run: Run, row: dict, db_nodes: int = 1, before: Callable[[], None] | None = None
) -> None:
    """What `dws lab deploy` does (build and push, secrets, label, network,
    stack deploy), from a stack removed first: the replay starts, as the
    tutorial does, from a fresh deploy, so no earlier update's monitor window
    turns a `docker stop` into a rollback. ``before`` runs once the old stack
    is gone. Fills build_seconds and converge_seconds."""
    if deploy_mod.stack_exists(run.lab):
        say("removing the running stack first: the replay starts from a fresh deploy")
        deploy_mod.stack_removed(run.lab)
    if before is not None:
        before()
    try:
        figures = deploy_mod.deploy(run.lab, say=lambda line: say(line.strip()), db_nodes=db_nodes)
    except deploy_mod.DeployError as exc:
        raise StepFailed(f"deploy: {exc}") from exc
    row["build_seconds"] = figures["build_seconds"]
    row["converge_seconds"] = figures["converge_seconds"]


@dataclass(frozen=True)
class Drain:
    """`docker node update --availability drain NODE` under traffic, then Active again.

    ``left``: service -> how many tasks run elsewhere once the node is empty;
    ``drained``: checks and figures while it is drained (given the time of
    the command); ``back``: the wait until the node serves again after it is
    Active (given the time it was made Active).
    """

    node: str
    left: dict[str, int]
    drained: Callable[[Run, dict, float], None] = lambda run, row, started: None
    back: Callable[[Run, dict, float], None] = lambda run, row, since: wait_for(
        "nginx on every node", lambda: run.swarm.converged(NGINX, len(run.lab.nodes)), 120, 0.5
    )

    def __call__(self, run: Run, row: dict) -> None:
        node = self.node
        written = write_one(run, "drain")
        started = time.monotonic()
        mark_command(row)
        run.docker("node", "update", "--availability", "drain", node)
        wait_for(
            f"no task left on {node}",
            lambda: all(run.swarm.converged(s, n, not_on=node) for s, n in self.left.items()),
            180,
            interval=0.5,
        )
        row["drain_seconds"] = round(time.monotonic() - started, 1)
        self.drained(run, row, started)
        read_back(run, written)
        nodes_answer(run)
        try:
            port443 = http_get(f"https://{run.lab.nodes[node]}/countries", timeout=2)
            row["drained_node_port443"] = port443.status_code
        except requests.RequestException as exc:
            row["drained_node_port443"] = type(exc).__name__  # expected: refused
        activated = time.monotonic()
        run.docker("node", "update", "--availability", "active", node)
        self.back(run, row, activated)
        row["back_seconds"] = round(time.monotonic() - activated, 1)
        nodes_answer(run)
        say(
            f"drained {node} in {row['drain_seconds']} s (its port 443: "
            f"{row['drained_node_port443']}); Active again, serving after {row['back_seconds']} s"
        )


@dataclass(frozen=True)
class NodeCrash:
    """A whole swarm node killed at once (`docker kill` of its container): the
    traffic goes on until Swarm has marked it Down and runs ``replicas``
    bootservice tasks elsewhere; then it starts again and rejoins.

    ``before``: checks that the node holds what the step means to lose
    (returns figures for the row); ``crashed``: waits and figures right after
    the kill (given its time); ``back``: the wait until the node serves again
    after its restart (given the time of the restart).
    """

    node: str
    replicas: int
    before: Callable[[Run], dict] = lambda run: {}
    crashed: Callable[[Run, dict, float], None] = lambda run, row, started: None
    back: Callable[[Run, dict, float], None] = lambda run, row, since: None

    def __call__(self, run: Run, row: dict) -> None:
        row.update(self.before(run))
        settle_into_step()
        started = time.monotonic()
        if not monitoring.is_enabled(stack_vars.load()):
            self.crash(run, row, started)
            return
        # With the monitoring override: the alerts a node crash must raise,
        # each until it has resolved again.
        with monitoring.AlertWatch(run.lab, started) as watch:
            self.crash(run, row, started)
            resolved = watch.wait_resolved(NODE_CRASH_ALERTS, ALERTS_RESOLVE_SECONDS)
        row["alerts_fired"] = watch.report()
        row["alert_polls"] = {"answered": watch.polls, "failed": watch.errors}
        say(
            "alerts: "
            + (
                ", ".join(
                    f"{a['name']} {a['subject']} {a['fired_seconds']}-{a['resolved_seconds']} s"
                    for a in row["alerts_fired"]
                )
                or "none"
            )
            + ("" if resolved else f" (not all of {', '.join(NODE_CRASH_ALERTS)} resolved)")
        )

    def crash(self, run: Run, row: dict, started: float) -> None:
        node = self.node
        mark_command(row)
        lablib.crash_node(node)
        self.crashed(run, row, started)
        wait_until_replaced(run, node, self.replicas, started, row)
        say(
            f"killed {node}: Down after {row['noticed_down_seconds']} s, {self.replicas} "
            f"replicas elsewhere after {row['tasks_replaced_seconds']} s"
        )
        restarted = time.monotonic()
        lablib.restart_node(run.lab, node)
        wait_for(f"{node} Ready", lambda: node_status(run, node) == "Ready", 180, interval=0.5)
        wait_for(
            f"nginx back on {node}",
            lambda: run.swarm.converged(NGINX, len(run.lab.nodes)),
            180,
            interval=0.5,
        )
        self.back(run, row, restarted)
        row["rejoined_seconds"] = round(time.monotonic() - restarted, 1)
        nodes_answer(run)
        say(
            f"{node} started again on {run.lab.nodes[node]}: "
            f"rejoined in {row['rejoined_seconds']} s"
        )


def wait_until_replaced(run: Run, node: str, replicas: int, started: float, row: dict) -> None:
    """After `node` was killed at `started` (monotonic): wait until Swarm has
    marked it Down and runs `replicas` bootservice tasks on the other nodes;
    both times go into `row` (`noticed_down_seconds`, `tasks_replaced_seconds`)."""
    wait_for(f"{node} Down", lambda: node_status(run, node) == "Down", 120, interval=0.5)
    row["noticed_down_seconds"] = round(time.monotonic() - started, 1)
    wait_for(
        f"{replicas} replicas running without {node}",
        lambda: run.swarm.converged(BOOT, replicas, not_on=node),
        180,
        interval=0.5,
    )
    row["tasks_replaced_seconds"] = round(time.monotonic() - started, 1)
