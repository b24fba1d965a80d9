"""`dws check`: the preflight of a swarm manager."""

from __future__ import annotations

import argparse
import json
import os

from dws.db import db_nodes_arg
from dws.util import UsageError

HELP = "preflight of a swarm manager (DOCKER_HOST or the local engine)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-c",
        "--compose-file",
        action="append",
        metavar="FILE",
        help="stack files, as for docker stack deploy (default: stack.yml)",
    )
    p.add_argument("--mesh", action="store_true", help="check stack.yml with stack.mesh.yml on top")
    p.add_argument(
        "--registry-address",
        action="append",
        default=[],
        metavar="NAME=HOST:PORT",
        help="reach registry NAME (as in the image names) at HOST:PORT from here",
    )
    p.add_argument(
        "--db-nodes",
        type=db_nodes_arg,
        default=os.environ.get("DB_NODES", "1"),
        help="database nodes the stack will run, as stack.yml's DB_NODES (default: $DB_NODES or 1)",
    )
    p.add_argument(
        "--lab",
        action="store_true",
        help="check the lab's manager (its DOCKER_HOST, its registry, build.py's variables)",
    )


def registry_map(items: list[str]) -> dict[str, str]:
    """NAME=HOST:PORT options as a mapping."""
    out = {}
    for item in items:
        name, sep, address = item.partition("=")
        if not sep or not name or not address:
            raise UsageError(f"--registry-address wants NAME=HOST:PORT, not {item!r}")
        out[name] = address
    return out


def _aim_at_lab(registries: dict[str, str]) -> list[str]:
    """Aim at the lab's manager with its last deploy's variables; the stack
    files that deploy used."""
    from dws import deploy, lab, stack_vars

    the_lab = lab.Lab.load()
    os.environ["DOCKER_HOST"] = the_lab.manager_host
    os.environ.pop("DOCKER_CONTEXT", None)
    registries.setdefault(lab.REGISTRY, f"{the_lab.registry_ip}:5000")
    # The last deploy's variables (rotated secrets' names too), else the last build's.
    variables = stack_vars.load()
    if not variables and deploy.IMAGES_JSON.exists():
        variables = json.loads(deploy.IMAGES_JSON.read_text()).get("stack_variables") or {}
    # Only a build for the lab's registry tells the lab's tags.
    if variables.get("REGISTRY") == lab.REGISTRY:
        for key, value in variables.items():
            os.environ.setdefault(key, value)
    return stack_vars.stack_files(variables)


def run(args: argparse.Namespace) -> int:
    from dws import check

    files = args.compose_file or ["stack.yml"]
    registries = registry_map(args.registry_address)
    if args.lab:
        deployed = _aim_at_lab(registries)
        # What the lab's last deploy ran (an override for monitoring or a
        # rotation among them), unless the files are named.
        files = args.compose_file or deployed
    if args.mesh:
        files = [*files, "stack.mesh.yml"]
    check.run(files, registries, db_nodes=args.db_nodes)
    return 0
