"""SQL as root on the lab's database tasks: the rotations' accounts and the
monitoring account (the statements an operator would type on a node)."""

from __future__ import annotations

from dws import db
from dws import lab as lablib


def database_containers(lab: lablib.Lab, service: str) -> list[tuple[str, str]]:
    """(node, container id) of every running task of the database `service`."""
    found = []
    for node in lab.nodes:
        out = lab.node_docker(
            node,
            "ps",
            "-q",
            "--filter",
            f"label=com.docker.swarm.service.name={service}",
            "--filter",
            "status=running",
            check=False,
        )
        found += [(node, cid) for cid in out.split()]
    return found


def as_root(lab: lablib.Lab, where: tuple[str, str], sql: str) -> str:
    """SQL through the socket of one database task as root, its password from
    the task's own secret; the statements (passwords among them) on stdin."""
    node, container = where
    return lab.node_docker(
        node,
        "exec",
        "-i",
        container,
        "sh",
        "-c",
        db.AS_ROOT,
        "sh",
        "mariadb",
        "--user=root",
        "--batch",
        "--skip-column-names",
        input=sql.encode(),
    )
