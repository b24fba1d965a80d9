"""`dws db`: backup, restore, checksums, recovery and the label check of the database.

    dws db backup FILE      a logical dump of citydb (mariadb-dump) into FILE
    dws db restore FILE     load such a dump: citydb's tables are replaced
    dws db checksum         CHECKSUM TABLE of every citydb table
    dws db recover          restart the Galera nodes so the most advanced
                            node that answers starts the cluster
    dws db check            the number of nodes labelled dws.db=true fits DB_NODES

backup, restore and checksum run the MariaDB client inside a running database
task on the engine DOCKER_HOST names (any node of a cluster will do: every
node has all the data), as root through the socket, with the password read
from the task's own secret (MYSQL_ROOT_PASSWORD_FILE); nothing secret leaves
the container. `--container NAME` picks the container, otherwise the first
healthy task of STACK_mysql on that engine. Errors are one line and exit 1;
wrong usage exits 2.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

from dws.util import docker_process

DATABASE = "citydb"
LABEL = "dws.db"
# What a dump made by `dws db backup` starts with (the client's header).
DUMP_HEADERS = (b"-- MariaDB dump", b"-- MySQL dump")
SANDBOX_LINE = b"/*M!999999\\- enable the sandbox mode */"

# The dump: one consistent snapshot without locking the tables (InnoDB); LOCK
# TABLES in the output would not replicate on Galera, so none are written.
DUMP_COMMAND = (
    "mariadb-dump",
    "--user=root",
    "--single-transaction",
    "--skip-add-locks",
    "--routines",
    "--triggers",
    "--hex-blob",
    "--default-character-set=utf8mb4",
    "--databases",
    DATABASE,
)
RESTORE_COMMAND = ("mariadb", "--user=root", "--default-character-set=utf8mb4")

# Inside the container: root's password from the task's secret, never argv.
AS_ROOT = 'MYSQL_PWD="$(cat "${MYSQL_ROOT_PASSWORD_FILE:?}")" exec "$@"'


class DbError(Exception):
    """A failure to report in one line."""


def _docker(*args: str, stdin=None, stdout=None, check: bool = True) -> subprocess.CompletedProcess:
    # The package's one docker runner: a missing CLI or a failing engine is a
    # DockerError (exit status 3), not a database failure.
    return docker_process(*args, stdin=stdin, stdout=stdout, check=check, timeout=None)


def find_container(stack: str) -> str:
    """A healthy database task of the stack on this engine."""
    out = _docker(
        "ps",
        "--filter",
        f"label=com.docker.swarm.service.name={stack}_mysql",
        "--filter",
        "health=healthy",
        "--format",
        "{{.Names}}",
    ).stdout.decode()
    names = out.split()
    if not names:
        raise DbError(
            f"no healthy {stack}_mysql task on this engine; run this on a node that "
            "hosts one (DOCKER_HOST), or name it with --container"
        )
    return names[0]


def _exec(container: str, *command: str, stdin=None, stdout=None) -> subprocess.CompletedProcess:
    # -i only to feed a file: an attached terminal or pipe must not be read.
    interactive = ["-i"] if stdin is not None else []
    return _docker(
        "exec",
        *interactive,
        container,
        "sh",
        "-c",
        AS_ROOT,
        "sh",
        *command,
        stdin=stdin,
        stdout=stdout,
    )


def backup(container: str, target: Path) -> int:
    """Dump citydb into `target` (written whole or not at all); its size."""
    tmp = target.with_name(f".{target.name}.partial")
    try:
        with open(tmp, "wb") as out:
            _exec(container, *DUMP_COMMAND, stdout=out)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target.stat().st_size


def is_dump(head: bytes) -> bool:
    """Whether a file's first bytes are those of a mariadb-dump (or mysqldump) file."""
    # mariadb-dump since 10.11.8 starts with a line that puts the client in
    # sandbox mode (no shell commands from the file), then its header.
    if head.startswith(SANDBOX_LINE):
        head = head.split(b"\n", 1)[-1]
    return head.startswith(DUMP_HEADERS)


def restore(container: str, source: Path) -> None:
    """Load a dump made by `backup`: citydb's tables are dropped and recreated."""
    try:
        with open(source, "rb") as fh:
            head = fh.read(256)
    except OSError as exc:
        raise DbError(f"cannot read {source}: {exc.strerror}") from None
    if not is_dump(head):
        raise DbError(f"{source} is not a dump made by `dws db backup` (mariadb-dump)")
    with open(source, "rb") as fh:
        _exec(container, *RESTORE_COMMAND, stdin=fh)


def checksums(container: str) -> dict[str, int | None]:
    """{table: CHECKSUM TABLE} of every table of citydb."""
    sql = (
        "SELECT GROUP_CONCAT(CONCAT('`', table_name, '`') ORDER BY table_name) "
        f"FROM information_schema.tables WHERE table_schema = '{DATABASE}'"
    )
    tables = (
        _exec(container, "mariadb", "--user=root", "-N", "-B", "-e", sql).stdout.decode().strip()
    )
    if not tables or tables == "NULL":
        return {}
    out = _exec(
        container, "mariadb", "--user=root", "-N", "-B", DATABASE, "-e", f"CHECKSUM TABLE {tables}"
    ).stdout.decode()
    result: dict[str, int | None] = {}
    for line in out.splitlines():
        name, value = line.rsplit("\t", 1)
        result[name.split(".", 1)[1]] = None if value == "NULL" else int(value)
    return result


def check_labels(labelled: list[str], db_nodes: int) -> str | None:
    """Why this label count cannot work with DB_NODES, or None when it fits."""
    count = len(labelled)
    names = ", ".join(labelled) or "none"
    if count == 0:
        return (
            f"docker node update --label-add {LABEL}=true NODE (no node is labelled {LABEL}=true; "
            "1 node: a single database; 3 nodes and DB_NODES=3: a Galera cluster)"
        )
    if count % 2 == 0:
        return (
            f"{count} nodes are labelled {LABEL}=true ({names}): a cluster of {count} loses "
            f"its majority when {count // 2} of them leave; label 1 node (a single database) "
            "or 3"
        )
    if count != db_nodes:
        return (
            f"{count} node(s) labelled {LABEL}=true ({names}) but DB_NODES={db_nodes}; "
            f"deploy with DB_NODES={count}"
        )
    return None


def db_nodes_arg(value: str) -> int:
    """argparse type of --db-nodes (default: $DB_NODES, as stack.yml reads it)."""
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"DB_NODES must be a positive number, not {value!r}")
    return int(value)


def labelled_nodes() -> list[str]:
    """Host names of the swarm nodes labelled dws.db=true."""
    ids = _docker("node", "ls", "-q").stdout.decode().split()
    if not ids:
        return []
    nodes = json.loads(_docker("node", "inspect", *ids).stdout)
    return sorted(
        n["Description"]["Hostname"]
        for n in nodes
        if n.get("Spec", {}).get("Labels", {}).get(LABEL) == "true"
    )


def recover(stack: str, timeout: float) -> None:
    """Restart the nodes with GALERA_RECOVER=1 until all are healthy, then without it."""
    service = f"{stack}_mysql"
    _docker("service", "update", "--detach", "--env-add", "GALERA_RECOVER=1", service)
    _wait_healthy(service, timeout)
    _docker("service", "update", "--detach", "--env-rm", "GALERA_RECOVER", service)
    _wait_healthy(service, timeout)


def _wait_healthy(service: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = json.loads(_docker("service", "inspect", service).stdout)[0]
        state = (info.get("UpdateStatus") or {}).get("State", "completed")
        if state in ("completed", "rollback_completed"):
            return
        if state in ("paused", "rollback_paused"):
            raise DbError(f"the update of {service} paused: {info['UpdateStatus'].get('Message')}")
        time.sleep(2)
    raise DbError(f"{service} did not finish its update within {timeout:.0f}s")
