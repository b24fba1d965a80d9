"""The replay with three database nodes: `dws replay --db-nodes 3`.

The same traffic as the tutorial replay (pages, API reads that reach the
database, an idempotent writer, all through the lab's front) while the
database runs as a three-node Galera cluster, one node on each labelled swarm
node. The steps are the faults a single database cannot survive:

- deploy: a fresh stack with every node labelled dws.db=true and DB_NODES=3,
  from empty database volumes; the cluster must have been started exactly once;
- drain cloud01, drain cloud02, drain cloud03: each node in turn drained (its
  database node, its bootservice replica and its nginx leave) and made Active
  again; the cluster keeps serving with two nodes and is back to three synced;
- db-rolling-restart: `docker service update --force dws_mysql`, one node at a
  time, each gated on its health (Synced);
- node-crash cloud02: a whole swarm node with a database node killed at once
  and started again; its database node rejoins by itself;
- db-full-crash: every database container killed at once; Swarm restarts them
  and they start the cluster again by themselves from the most advanced node.

Every step must end with 0 client-visible failed requests (a 503 counts: the
cluster never lacks a majority), except db-full-crash, where no database node
is left and a 503 is the promised answer if it comes within 10 s (an address
of a dead node waits for the connect timeout), as the single-database
replay's db-restart promises within 5 s; and the audit after the run must find 0
lost and 0 duplicated writes. Each step records how long the cluster took to be back to
three synced nodes. The report is build/reports/replay-ha.json with its
timeline beside it. After the audit, `dws db backup` of the cluster, a table
emptied on one node and `dws db restore` must give every node the backup's
checksums again. Afterwards the stack, the database volumes and the extra
labels are removed, so the lab is back to the single-database layout.

`PLAN` lists the steps; deploy, drain and node crash are the library's
(dws.steps) with the cluster's checks added.
"""

from __future__ import annotations

import sys
import time

from dws import deploy as deploy_mod
from dws import lab as lablib
from dws import stack_vars
from dws.probe import REPORT
from dws.replay_run import Plan, Run, Step, open_loop
from dws.steps import (
    BOOT,
    MYSQL,
    NGINX,
    Drain,
    NodeCrash,
    fresh_deploy,
    http_get,
    nodes_answer,
    require,
    run_plan,
    say,
    settle_into_step,
    wait_for,
)
from dws.util import StepFailed, docker_process, run_command

REPORT_HA = REPORT.with_name("replay-ha.json")
TIMELINE_HA = REPORT.with_name("replay-ha-timeline.png")
DB_NODES = 3
CRASH_NODE = "cloud02"
STEP_FULL_CRASH = "db-full-crash"
BOOTSTRAP_LINE = "starting a new cluster on this node"
WSREP_SQL = (
    "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_size', "
    "'wsrep_local_state_comment', 'wsrep_ready', 'wsrep_cluster_state_uuid')"
)

__all__ = ["PLAN", "REPORT_HA", "TIMELINE_HA", "run"]


def node_sql(lab: lablib.Lab, node: str, sql: str) -> str:
    """Run SQL as root in the database task on `node` (tab-separated rows; "" if
    none runs there or it does not answer)."""
    ids = lab.node_docker(
        node,
        "ps",
        "-q",
        "--filter",
        f"label=com.docker.swarm.service.name={MYSQL}",
        check=False,
    ).split()
    if not ids:
        return ""
    return lab.node_docker(
        node,
        "exec",
        ids[0],
        "sh",
        "-c",
        'MYSQL_PWD="$(cat "$MYSQL_ROOT_PASSWORD_FILE")" mariadb -uroot -N -B -e "$1"',
        "sh",
        sql,
        check=False,
        timeout=60,
    )


def wsrep(lab: lablib.Lab, node: str) -> dict[str, str]:
    """The wsrep status of the database task running on `node` ({} if none answers)."""
    out = node_sql(lab, node, WSREP_SQL)
    return dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)


def cluster_synced(lab: lablib.Lab, nodes: list[str]) -> bool:
    """Exactly `nodes` form one cluster, every one Synced and ready for writes."""
    states = [wsrep(lab, node) for node in nodes]
    return (
        all(
            s.get("wsrep_local_state_comment") == "Synced"
            and s.get("wsrep_ready") == "ON"
            and s.get("wsrep_cluster_size") == str(len(nodes))
            for s in states
        )
        and len({s.get("wsrep_cluster_state_uuid") for s in states}) == 1
    )


def remove_database_volumes(lab: lablib.Lab) -> None:
    """The database volume on every node (the stack must be gone)."""
    for node in lab.nodes:
        lab.node_docker(node, "volume", "rm", deploy_mod.DB_VOLUME, check=False)
    stack_vars.forget_database()


def bootstraps(lab: lablib.Lab) -> int:
    """How many database nodes started a new cluster, from the service's logs
    (the CLI prints a task's stderr, where the start script logs, on its own)."""
    logs = docker_process(
        "service", "logs", "--raw", MYSQL, host=lab.manager_host, timeout=60, check=False
    )
    return (logs.stdout + logs.stderr).decode(errors="replace").count(BOOTSTRAP_LINE)


def others(lab: lablib.Lab, node: str) -> list[str]:
    """The lab's nodes but one."""
    return sorted(n for n in lab.nodes if n != node)


def wait_all_synced(run: Run, node: str, ready: bool = False) -> None:
    """Wait until `node` is back in the stack: nginx and a database node on
    every swarm node, all of them Synced; with `ready`, `node` itself Ready
    in the swarm first (after a restart)."""
    nodes = sorted(run.lab.nodes)
    wait_for(
        f"{node} back with its database node Synced",
        lambda: (
            (not ready or run.swarm.nodes().get(node, {}).get("Status") == "Ready")
            and run.swarm.converged(NGINX, 3)
            and run.swarm.converged(MYSQL, 3)
            and cluster_synced(run.lab, nodes)
        ),
        300,
        interval=1,
    )


def cluster_of_two(node: str, interval: float = 1):
    """After `node` left: wait for the other two to form the cluster, Synced
    (`cluster_of_two_seconds` since the command)."""

    def wait(run: Run, row: dict, started: float) -> None:
        rest = others(run.lab, node)
        wait_for(
            f"the cluster of {rest}", lambda: cluster_synced(run.lab, rest), 120, interval=interval
        )
        row["cluster_of_two_seconds"] = round(time.monotonic() - started, 1)

    return wait


def cluster_back(node: str, ready: bool = False):
    """After `node` came back: wait for three synced nodes (`cluster_back_seconds`)."""

    def wait(run: Run, row: dict, since: float) -> None:
        wait_all_synced(run, node, ready=ready)
        row["cluster_back_seconds"] = round(time.monotonic() - since, 1)
        say(f"{node} back: 3 synced nodes after {row['cluster_back_seconds']} s")

    return wait


# ---------------------------------------------------------------- steps


def deploy(run: Run, row: dict) -> None:
    """A fresh stack with three database nodes from empty volumes; one cluster,
    started exactly once."""
    started: list[float] = []

    def from_empty_volumes() -> None:
        remove_database_volumes(run.lab)
        started.append(time.monotonic())

    fresh_deploy(run, row, db_nodes=DB_NODES, before=from_empty_volumes)
    nodes = sorted(run.lab.nodes)
    wait_for("3 synced database nodes", lambda: cluster_synced(run.lab, nodes), 300, interval=1)
    since_deploy = time.monotonic() - started[0]
    row["cluster_synced_seconds"] = round(since_deploy - row["build_seconds"], 1)
    row["bootstraps"] = bootstraps(run.lab)
    require(row["bootstraps"] == 1, f"{row['bootstraps']} nodes started a new cluster")
    nodes_answer(run)
    run.start_traffic()


def steady(run: Run, row: dict) -> None:
    """Ten seconds of traffic with nothing happening."""
    time.sleep(10)
    row["served_by"] = len({r.served_by for r in run.traffic.of_step("steady") if r.served_by})


def drain(node: str) -> Drain:
    """Drain `node` (a database node leaves with its replica and its nginx): the
    other two stay a cluster; Active again, three synced."""
    return Drain(
        node,
        left={BOOT: 3, NGINX: 2, MYSQL: 2},
        drained=cluster_of_two(node),
        back=cluster_back(node),
    )


def rolling_restart(run: Run, row: dict) -> None:
    """`docker service update --force dws_mysql`: one node at a time, health-gated."""
    before = {t["ID"] for t in run.swarm.tasks(MYSQL)}
    started = time.monotonic()
    run.docker("service", "update", "--detach", "--force", MYSQL)
    nodes = sorted(run.lab.nodes)

    def done() -> bool:
        state = (run.swarm.service(MYSQL).get("UpdateStatus") or {}).get("State")
        if state in ("paused", "rollback_started", "rollback_paused"):
            raise StepFailed(f"the database's rolling restart stopped: {state}")
        tasks = run.swarm.converged(MYSQL, 3)
        return bool(
            state == "completed"
            and tasks
            and not {t["ID"] for t in tasks} & before
            and cluster_synced(run.lab, nodes)
        )

    wait_for("every database node restarted and Synced", done, 600, interval=1)
    row["cluster_back_seconds"] = round(time.monotonic() - started, 1)
    nodes_answer(run)
    say(f"every database node restarted in turn; 3 synced after {row['cluster_back_seconds']} s")


def database_on_crash_node(run: Run) -> dict:
    """Before the crash: the node to kill holds a database node."""
    on_node = [t for t in run.swarm.tasks(MYSQL) if t["Node"] == CRASH_NODE]
    require(on_node, f"no database node on {CRASH_NODE}")
    return {}


def full_crash(run: Run, row: dict) -> None:
    """Every database container killed at once (no node left to serve): Swarm
    restarts them, and they must start the cluster again by themselves from the
    most advanced node. Meanwhile the requests that need the database answer 503
    quickly (the promise of a database that is away)."""
    lab = run.lab
    nodes = sorted(lab.nodes)
    before = {t["ID"] for t in run.swarm.tasks(MYSQL)}
    containers = {}
    for node in nodes:
        ids = lab.node_docker(
            node, "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={MYSQL}"
        ).split()
        require(ids, f"no database container on {node}")
        containers[node] = ids[0]
    settle_into_step()
    started = time.monotonic()
    for node, container in containers.items():
        lab.node_docker(node, "kill", container)

    def back() -> bool:
        tasks = run.swarm.converged(MYSQL, 3)
        return bool(tasks and not {t["ID"] for t in tasks} & before) and cluster_synced(lab, nodes)

    wait_for("the cluster started again by itself", back, 600, interval=1)
    row["cluster_back_seconds"] = round(time.monotonic() - started, 1)
    wait_for(
        "/readyz through the front",
        lambda: http_get(f"{lab.lb_url}/readyz").status_code == 200,
        120,
        interval=0.5,
    )
    row["serving_again_seconds"] = round(time.monotonic() - started, 1)
    answered_503 = [r for r in run.traffic.of_step(STEP_FULL_CRASH) if r.status == 503]
    row["worst_503_seconds"] = round(max((r.seconds for r in answered_503), default=0.0), 3)
    nodes_answer(run)
    say(
        f"every database container killed: 3 synced after {row['cluster_back_seconds']} s, "
        f"serving after {row['serving_again_seconds']} s; {len(answered_503)} quick 503s"
    )


# ---------------------------------------------------------------- after the audit


def dws_db(lab: lablib.Lab, *args: str) -> str:
    """`dws db ARGS` as an operator runs it against the manager; its stdout."""
    proc = run_command(
        [sys.executable, "-m", "dws", "db", *args],
        env=deploy_mod.manager_env(lab),
        error=StepFailed,
        what=f"dws db {args[0]}",
    )
    return proc.stdout.decode(errors="replace")


def node_checksums(lab: lablib.Lab, node: str, tables: list[str]) -> dict[str, int]:
    """CHECKSUM TABLE on one node, after it applied every earlier write."""
    names = ", ".join(f"citydb.`{t}`" for t in tables)
    out = node_sql(lab, node, f"SET SESSION wsrep_sync_wait = 1; CHECKSUM TABLE {names}")
    return {
        line.split("\t")[0].split(".", 1)[1]: int(line.split("\t")[1])
        for line in out.splitlines()
        if "\t" in line
    }


def backup_restore(run: Run) -> dict:
    """`dws db backup` from the cluster, a table emptied, `dws db restore`: every
    node has every table's checksum of the backup again."""
    lab = run.lab
    dump = REPORT.with_name("replay-ha-backup.sql")
    started = time.monotonic()
    dws_db(lab, "backup", str(dump))
    backed_up = {
        line.split("\t")[0]: int(line.split("\t")[1])
        for line in dws_db(lab, "checksum").splitlines()
        if "\t" in line
    }
    tables = sorted(backed_up)
    node_sql(lab, CRASH_NODE, "DELETE FROM citydb.city")
    damaged = node_checksums(lab, CRASH_NODE, tables)
    require(
        damaged.get("city") != backed_up.get("city"),
        f"emptying the city table changed nothing (checksum {damaged.get('city')})",
    )
    dws_db(lab, "restore", str(dump))
    restored = {node: node_checksums(lab, node, tables) for node in sorted(lab.nodes)}
    for node, sums in restored.items():
        require(sums == backed_up, f"{node} after the restore: {sums} != {backed_up}")
    figures = {
        "dump_bytes": dump.stat().st_size,
        "tables": len(tables),
        "seconds": round(time.monotonic() - started, 1),
        "identical_on": sorted(restored),
    }
    say(f"backup and restore: {figures}")
    return figures


def clean_up(lab: lablib.Lab) -> None:
    """The stack, the database volumes and the extra labels go: the lab is back to
    the single-database layout that `dws lab deploy` makes."""
    deploy_mod.stack_removed(lab)
    remove_database_volumes(lab)
    deploy_mod.label_db_nodes(lab, [deploy_mod.DB_NODE])


PLAN = Plan(
    steps=(
        Step("deploy", deploy),
        Step("steady", steady),
        *(Step(f"drain {node}", drain(node)) for node in ("cloud01", "cloud02", "cloud03")),
        Step("db-rolling-restart", rolling_restart),
        Step(
            f"node-crash {CRASH_NODE}",
            NodeCrash(
                CRASH_NODE,
                3,
                before=database_on_crash_node,
                crashed=cluster_of_two(CRASH_NODE, interval=0.5),
                back=cluster_back(CRASH_NODE, ready=True),
            ),
        ),
        Step(STEP_FULL_CRASH, full_crash),
    ),
    report=REPORT_HA,
    timeline=TIMELINE_HA,
    after_audit={"backup_restore": backup_restore},
    clean_up=clean_up,
    extra={"db_nodes": DB_NODES},
)


def run(lab: lablib.Lab, remove_stack: bool = True, open_rate: float | str = 0.0) -> dict:
    """Every step with three database nodes (StepFailed if a promise broke);
    returns the report written to REPORT_HA."""
    return run_plan(lab, open_loop(PLAN, open_rate), remove_stack=remove_stack)
