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
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time

import requests

from dws import deploy as deploy_mod
from dws import lab as lablib
from dws.probe import REPORT, Probe, Swarm, wait_for
from dws.replay import (
    BOOT,
    MYSQL,
    NGINX,
    Steps,
    audit_run,
    cli,
    http_get,
    nodes_answer,
    say,
    settle_into_step,
    wait_until_replaced,
    write_report,
)
from dws.replay_report import Audit

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


def bootstraps(env: dict[str, str]) -> int:
    """How many database nodes started a new cluster, from the service's logs
    (the CLI prints a task's stderr, where the start script logs, on its own)."""
    logs = subprocess.run(
        ["docker", "service", "logs", "--raw", MYSQL],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
        check=False,
    ).stdout
    return logs.count(BOOTSTRAP_LINE)


def deploy(lab: lablib.Lab, swarm: Swarm, env: dict[str, str], row: dict) -> None:
    """A fresh stack with three database nodes from empty volumes."""
    if deploy_mod.stack_exists(lab):
        say("removing the running stack first: the replay starts from a fresh deploy")
        deploy_mod.stack_removed(lab)
    remove_database_volumes(lab)
    started = time.monotonic()
    try:
        figures = deploy_mod.deploy(lab, say=lambda line: say(line.strip()), db_nodes=DB_NODES)
    except deploy_mod.DeployError as exc:
        raise AssertionError(str(exc)) from exc
    nodes = sorted(lab.nodes)
    wait_for("3 synced database nodes", lambda: cluster_synced(lab, nodes), 300, interval=1)
    row["build_seconds"] = figures["build_seconds"]
    row["converge_seconds"] = figures["converge_seconds"]
    row["cluster_synced_seconds"] = round(time.monotonic() - started - row["build_seconds"], 1)
    row["bootstraps"] = bootstraps(env)
    assert row["bootstraps"] == 1, f"{row['bootstraps']} nodes started a new cluster"
    nodes_answer(lab, swarm)


def wait_all_synced(lab: lablib.Lab, swarm: Swarm, node: str, ready: bool = False) -> None:
    """Wait until `node` is back in the stack: nginx and a database node on
    every swarm node, all of them Synced; with `ready`, `node` itself Ready
    in the swarm first (after a restart)."""
    nodes = sorted(lab.nodes)
    wait_for(
        f"{node} back with its database node Synced",
        lambda: (
            (not ready or swarm.nodes().get(node, {}).get("Status") == "Ready")
            and swarm.converged(NGINX, 3)
            and swarm.converged(MYSQL, 3)
            and cluster_synced(lab, nodes)
        ),
        300,
        interval=1,
    )


def drain(lab: lablib.Lab, swarm: Swarm, env: dict[str, str], node: str, row: dict) -> None:
    """Drain `node` (a database node leaves), check a write made before it, make it
    Active again and wait for its database node to be Synced."""
    others = sorted(n for n in lab.nodes if n != node)
    with requests.Session() as s:
        name = f"ha-drain-{secrets.token_hex(4)}"
        resp = s.post(
            f"{lab.lb_url}/api/v1/countries",
            auth=deploy_mod.admin_credentials(),
            timeout=10,
            json={"countryname": name, "countrycode": "DR"},
        )
        assert resp.status_code == 201, resp.text
        written = resp.json()["id"]
    started = time.monotonic()
    cli(["docker", "node", "update", "--availability", "drain", node], env)
    wait_for(
        f"no task left on {node}",
        lambda: (
            swarm.converged(BOOT, 3, not_on=node)
            and swarm.converged(NGINX, 2, not_on=node)
            and swarm.converged(MYSQL, 2, not_on=node)
        ),
        180,
        interval=0.5,
    )
    row["drain_seconds"] = round(time.monotonic() - started, 1)
    wait_for(f"the cluster of {others}", lambda: cluster_synced(lab, others), 120, interval=1)
    row["cluster_of_two_seconds"] = round(time.monotonic() - started, 1)
    got = http_get(f"{lab.lb_url}/api/v1/countries/{written}", timeout=10)
    assert got.status_code == 200 and got.json()["countryname"] == name, got.text
    nodes_answer(lab, swarm)
    activated = time.monotonic()
    cli(["docker", "node", "update", "--availability", "active", node], env)
    wait_all_synced(lab, swarm, node)
    row["cluster_back_seconds"] = round(time.monotonic() - activated, 1)
    nodes_answer(lab, swarm)
    say(
        f"drained {node} in {row['drain_seconds']} s (2 synced nodes after "
        f"{row['cluster_of_two_seconds']} s); Active again, 3 synced after "
        f"{row['cluster_back_seconds']} s"
    )


def rolling_restart(lab: lablib.Lab, swarm: Swarm, env: dict[str, str], row: dict) -> None:
    """`docker service update --force dws_mysql`: one node at a time, health-gated."""
    before = {t["ID"] for t in swarm.tasks(MYSQL)}
    started = time.monotonic()
    cli(["docker", "service", "update", "--detach", "--force", MYSQL], env)
    nodes = sorted(lab.nodes)

    def done() -> bool:
        state = (swarm.service(MYSQL).get("UpdateStatus") or {}).get("State")
        assert state not in ("paused", "rollback_started", "rollback_paused"), state
        tasks = swarm.converged(MYSQL, 3)
        return bool(
            state == "completed"
            and tasks
            and not {t["ID"] for t in tasks} & before
            and cluster_synced(lab, nodes)
        )

    wait_for("every database node restarted and Synced", done, 600, interval=1)
    row["cluster_back_seconds"] = round(time.monotonic() - started, 1)
    nodes_answer(lab, swarm)
    say(f"every database node restarted in turn; 3 synced after {row['cluster_back_seconds']} s")


def node_crash(lab: lablib.Lab, swarm: Swarm, row: dict) -> None:
    """Kill a node holding a database node, a bootservice replica and an nginx."""
    node = CRASH_NODE
    others = sorted(n for n in lab.nodes if n != node)
    assert any(t["Node"] == node for t in swarm.tasks(MYSQL)), f"no database node on {node}"
    settle_into_step()
    started = time.monotonic()
    lablib.crash_node(node)
    wait_for(f"the cluster of {others}", lambda: cluster_synced(lab, others), 120, interval=0.5)
    row["cluster_of_two_seconds"] = round(time.monotonic() - started, 1)
    wait_until_replaced(swarm, node, 3, started, row)
    restarted = time.monotonic()
    lablib.restart_node(lab, node)
    wait_all_synced(lab, swarm, node, ready=True)
    row["cluster_back_seconds"] = round(time.monotonic() - restarted, 1)
    nodes_answer(lab, swarm)
    say(
        f"killed {node}: 2 synced nodes after {row['cluster_of_two_seconds']} s, Down after "
        f"{row['noticed_down_seconds']} s; started again, 3 synced after "
        f"{row['cluster_back_seconds']} s"
    )


def full_crash(lab: lablib.Lab, swarm: Swarm, probe: Probe, row: dict) -> None:
    """Every database container killed at once (no node left to serve): Swarm
    restarts them, and they must start the cluster again by themselves from the
    most advanced node. Meanwhile the requests that need the database answer 503
    quickly (the promise of a database that is away)."""
    nodes = sorted(lab.nodes)
    before = {t["ID"] for t in swarm.tasks(MYSQL)}
    containers = {}
    for node in nodes:
        ids = lab.node_docker(
            node, "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={MYSQL}"
        ).split()
        assert ids, f"no database container on {node}"
        containers[node] = ids[0]
    settle_into_step()
    started = time.monotonic()
    for node, container in containers.items():
        lab.node_docker(node, "kill", container)

    def back() -> bool:
        tasks = swarm.converged(MYSQL, 3)
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
    answered_503 = [r for r in probe.of_step(STEP_FULL_CRASH) if r.status == 503]
    row["worst_503_seconds"] = round(max((r.seconds for r in answered_503), default=0.0), 3)
    nodes_answer(lab, swarm)
    say(
        f"every database container killed: 3 synced after {row['cluster_back_seconds']} s, "
        f"serving after {row['serving_again_seconds']} s; {len(answered_503)} quick 503s"
    )


def dws_db(env: dict[str, str], *args: str) -> str:
    """`dws db ARGS` as an operator runs it against the manager; its stdout."""
    proc = subprocess.run(
        [sys.executable, "-m", "dws", "db", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"dws db {args[0]} failed: {proc.stderr.strip()}"
    return proc.stdout


def node_checksums(lab: lablib.Lab, node: str, tables: list[str]) -> dict[str, int]:
    """CHECKSUM TABLE on one node, after it applied every earlier write."""
    names = ", ".join(f"citydb.`{t}`" for t in tables)
    out = node_sql(lab, node, f"SET SESSION wsrep_sync_wait = 1; CHECKSUM TABLE {names}")
    return {
        line.split("\t")[0].split(".", 1)[1]: int(line.split("\t")[1])
        for line in out.splitlines()
        if "\t" in line
    }


def backup_restore(lab: lablib.Lab, env: dict[str, str]) -> dict:
    """`dws db backup` from the cluster, a table emptied, `dws db restore`: every
    node has every table's checksum of the backup again."""
    dump = REPORT.with_name("replay-ha-backup.sql")
    started = time.monotonic()
    dws_db(env, "backup", str(dump))
    backed_up = {
        line.split("\t")[0]: int(line.split("\t")[1])
        for line in dws_db(env, "checksum").splitlines()
        if "\t" in line
    }
    tables = sorted(backed_up)
    node_sql(lab, CRASH_NODE, "DELETE FROM citydb.city")
    damaged = node_checksums(lab, CRASH_NODE, tables)
    assert damaged["city"] != backed_up["city"], "emptying the city table changed nothing"
    dws_db(env, "restore", str(dump))
    restored = {node: node_checksums(lab, node, tables) for node in sorted(lab.nodes)}
    for node, sums in restored.items():
        assert sums == backed_up, f"{node} after the restore: {sums} != {backed_up}"
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
    started = time.monotonic()
    deploy_mod.stack_removed(lab)
    remove_database_volumes(lab)
    deploy_mod.label_db_nodes(lab, [deploy_mod.DB_NODE])
    say(f"stack, database volumes and labels removed in {time.monotonic() - started:.0f} s")


def run(lab: lablib.Lab, remove_stack: bool = True) -> dict:
    """Every step with three database nodes (AssertionError if a promise broke);
    returns the report written to REPORT_HA."""
    swarm = Swarm(lab)
    env = dict(os.environ, DOCKER_HOST=lab.manager_host)
    env.pop("DOCKER_CONTEXT", None)
    deploy_mod.ensure_secrets(lab)
    probe = Probe(lab.lb_url, deploy_mod.admin_credentials(), run_id=secrets.token_hex(3))
    steps = Steps(probe)
    started = time.monotonic()
    audit: Audit | None = None
    extra: dict = {"db_nodes": DB_NODES}
    try:
        with steps.step("deploy") as row:
            deploy(lab, swarm, env, row)
            probe.start()
        with steps.step("steady") as row:
            time.sleep(10)
            row["served_by"] = len({r.served_by for r in probe.of_step("steady") if r.served_by})
        for node in sorted(lab.nodes):
            with steps.step(f"drain {node}") as row:
                drain(lab, swarm, env, node, row)
        with steps.step("db-rolling-restart") as row:
            rolling_restart(lab, swarm, env, row)
        with steps.step(f"node-crash {CRASH_NODE}") as row:
            node_crash(lab, swarm, row)
        with steps.step(STEP_FULL_CRASH) as row:
            full_crash(lab, swarm, probe, row)
        probe.set_step("verify")
        probe.stop()
        audit = audit_run(lab.lb_url, probe)
        extra["backup_restore"] = backup_restore(lab, env)
    finally:
        probe.stop()
        report = write_report(
            steps,
            probe,
            audit,
            time.monotonic() - started,
            path=REPORT_HA,
            timeline=TIMELINE_HA,
            extra=extra,
        )
        if remove_stack:
            clean_up(lab)
    problems = report["violations"]
    assert not problems, "the replay broke its promises:\n  " + "\n  ".join(problems)
    assert report["writes"]["acknowledged_writes"] > 0, "the probe made no successful write"
    return report
