"""Three labelled database nodes on the swarm lab: one Galera cluster, drained and restarted.

stack.yml as users deploy it, with DB_NODES=3 and all three nodes labelled
dws.db=true. Afterwards the stack, its volumes on every node, the labels and
the secrets this test created are removed, so the tutorial replay that
follows in the session starts from a clean swarm.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

from dws import lab as lablib
from dws.probe import Swarm, wait_for
from dws.replay import (
    MYSQL,
    REGISTRY,
    REPO,
    SECRET_NAMES,
    STACK,
    cli,
    derive_unencrypted,
    http_get,
    server_version,
)

NODES = ("cloud01", "cloud02", "cloud03")


def _wsrep(lab: lablib.Lab, node: str) -> dict[str, str]:
    """wsrep status of the database task on `node` ({} if none runs there)."""
    ids = lab.node_docker(
        node, "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={MYSQL}"
    ).split()
    if not ids:
        return {}
    sql = (
        "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_size', "
        "'wsrep_local_state_comment', 'wsrep_ready', 'wsrep_cluster_state_uuid')"
    )
    out = lab.node_docker(
        node,
        "exec",
        ids[0],
        "sh",
        "-c",
        'MYSQL_PWD="$(cat /run/secrets/mysql_root_password)" mariadb -uroot -N -B -e "$1"',
        "sh",
        sql,
        check=False,
    )
    return dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)


def _synced(lab: lablib.Lab, nodes: tuple[str, ...]) -> bool:
    states = [_wsrep(lab, n) for n in nodes]
    return (
        all(
            s.get("wsrep_local_state_comment") == "Synced"
            and s.get("wsrep_ready") == "ON"
            and s.get("wsrep_cluster_size") == str(len(nodes))
            for s in states
        )
        and len({s.get("wsrep_cluster_state_uuid") for s in states}) == 1
    )


def _ready(lab: lablib.Lab) -> bool:
    return http_get(f"{lab.lb_url}/readyz").status_code == 200


def test_three_labelled_nodes_run_one_cluster_that_survives_a_drain(
    swarm_lab: lablib.Lab, tmp_path: Path
) -> None:
    lab, swarm = swarm_lab, Swarm(swarm_lab)
    env = dict(os.environ, DOCKER_HOST=lab.manager_host)
    env.pop("DOCKER_CONTEXT", None)
    created: list[str] = []
    figures: dict[str, float] = {}
    try:
        build = [
            sys.executable,
            "build.py",
            "--push",
            "--registry",
            REGISTRY,
            "--only",
            "mysql,nginx,bootservice",
        ]
        for name, tag in lab.bases.items():
            build += ["--base-image", f"{name}={tag}"]
        cli(build, env, timeout=1500)
        existing = set(lab.docker("secret", "ls", "--format", "{{.Name}}").split())
        for name in SECRET_NAMES:
            if name not in existing:
                subprocess.run(
                    ["docker", "secret", "create", name, "-"],
                    env=env,
                    check=True,
                    input=secrets.token_hex(32).encode(),
                    capture_output=True,
                    timeout=60,
                )
                created.append(name)
        for node in NODES:
            cli(["docker", "node", "update", "--label-add", "dws.db=true", node], env)

        stack_file = tmp_path / "stack.yml"
        stack_file.write_text(derive_unencrypted((REPO / "stack.yml").read_text()))
        deploy_env = dict(
            env,
            DB_NODES="3",
            MYSQL_VERSION=server_version(lab, "mysql"),
            NGINX_VERSION=server_version(lab, "nginx"),
        )
        started = time.monotonic()
        cli(
            ["docker", "stack", "deploy", "-c", str(stack_file), STACK, "--with-registry-auth"],
            deploy_env,
        )
        wait_for("3 synced database nodes", lambda: _synced(lab, NODES), 420, interval=2)
        figures["first_start_to_3_synced_s"] = round(time.monotonic() - started, 1)
        assert sorted(t["Node"] for t in swarm.tasks(MYSQL)) == list(NODES)
        wait_for("/readyz through the front", lambda: _ready(lab), 300, interval=1)
        logs = lab.docker("service", "logs", "--raw", MYSQL)
        assert logs.count("starting a new cluster on this node") == 1, logs[-3000:]

        # Maintenance of a database node: the other two keep the cluster.
        cli(["docker", "node", "update", "--availability", "drain", "cloud02"], env)
        started = time.monotonic()
        wait_for("2 synced nodes", lambda: _synced(lab, ("cloud01", "cloud03")), 180, interval=2)
        failures = sum(not _ready(lab) for _ in range(20))
        assert failures == 0
        cli(["docker", "node", "update", "--availability", "active", "cloud02"], env)
        started = time.monotonic()
        wait_for("3 synced nodes again", lambda: _synced(lab, NODES), 300, interval=2)
        figures["drained_node_back_to_3_synced_s"] = round(time.monotonic() - started, 1)

        # A forced update restarts the nodes one at a time, each rejoining.
        started = time.monotonic()
        cli(["docker", "service", "update", "--force", "--detach", MYSQL], env)

        def updated() -> bool:
            state = (swarm.service(MYSQL).get("UpdateStatus") or {}).get("State")
            assert state not in ("paused", "rollback_paused"), state
            return state == "completed" and _synced(lab, NODES)

        wait_for("the forced update", updated, 600, interval=2)
        figures["forced_update_to_3_synced_s"] = round(time.monotonic() - started, 1)
        assert _ready(lab)
        print(f"\ngalera on the swarm lab: {json.dumps(figures)}", flush=True)
    finally:
        with contextlib.suppress(Exception):
            lab.docker("stack", "rm", STACK)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            left = [
                n
                for n in NODES
                if lab.node_docker(
                    n,
                    "ps",
                    "-aq",
                    "--filter",
                    f"label=com.docker.stack.namespace={STACK}",
                    check=False,
                ).split()
            ]
            if not left:
                break
            time.sleep(2)
        for node in NODES:
            lab.node_docker(node, "volume", "rm", f"{STACK}_mysql-data", check=False)
            lab.docker("node", "update", "--label-rm", "dws.db", node, check=False)
        for name in created:
            lab.docker("secret", "rm", name, check=False)
        lab.docker("network", "rm", f"{STACK}_my-network", check=False)
