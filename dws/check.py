"""`dws check`: a preflight of a swarm before `docker stack deploy -c stack.yml dws`.

Against the manager DOCKER_HOST names (or the local engine) it checks what
stack.yml needs and a deploy does not report: the engine is a swarm manager,
the seven secrets exist (the TLS certificate and key among them), the
database label is on as many nodes as DB_NODES says (1, or 3 for a Galera
cluster; 2 is refused), the overlay
network exists (or what command creates it), and every image stack.yml names,
with the variables of this environment, is in its registry. Each item prints
as ok or with what to do; the exit status is non-zero if anything is missing.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

import requests

from dws.db import check_labels
from dws.deploy import DB_LABEL, NETWORK, STACK, SUBNET, TLS_SECRETS
from dws.util import REPO, DockerError, DwsError, docker, docker_process, last_line

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)
IMAGE_RE = re.compile(r"^\s+image:\s*(\S+)\s*$", re.M)
SECRET_NAME_RE = re.compile(r"^    name:\s*(\S+)\s*$", re.M)


class CheckFailed(DwsError):
    """Something the stack needs is missing."""

    status = 10


class NotAManager(DwsError):
    """The engine is not a swarm manager."""

    status = 11


@dataclass
class Item:
    """One checked thing: ok, or what to do."""

    what: str
    ok: bool
    todo: str = ""

    def line(self) -> str:
        return f"ok       {self.what}" if self.ok else f"MISSING  {self.what}: {self.todo}"


def split_image(ref: str) -> tuple[str, str, str]:
    """(registry, repository, tag) of an image reference with a registry host."""
    first, sep, rest = ref.partition("/")
    if not sep or not ("." in first or ":" in first or first == "localhost"):
        raise ValueError(f"{ref!r} names no registry host")
    repo, colon, tag = rest.rpartition(":")
    if not colon or "/" in tag:
        repo, tag = rest, "latest"
    return first, repo, tag


def stack_config(files: Iterable[str], env: dict[str, str] | None = None) -> str:
    """The stack files as the Docker CLI resolves them (variables too)."""
    args = ["stack", "config"]
    for f in files:
        args += ["-c", f]
    proc = docker_process(*args, env=env, cwd=REPO, timeout=60, check=False, error=DockerError)
    if proc.returncode != 0:
        last = last_line(proc.stderr, proc.returncode)
        raise DockerError(f"`docker stack config` refused the stack file: {last}")
    return proc.stdout.decode(errors="replace")


def stack_images(config: str) -> list[str]:
    """Image references of a resolved stack file."""
    return sorted(set(IMAGE_RE.findall(config)))


def stack_secrets(config: str) -> list[str]:
    """The swarm secrets a resolved stack file names (each once)."""
    _, found, block = config.partition("\nsecrets:\n")
    if not found:
        return []
    block = re.split(r"^\S", block, maxsplit=1, flags=re.M)[0]
    return sorted(set(SECRET_NAME_RE.findall(block)))


def image_in_registry(ref: str, address: str | None = None) -> Item:
    """Whether the registry has the tag (HTTP API v2); ``address`` overrides its host:port."""
    registry, repo, tag = split_image(ref)
    host = address or registry
    last = ""
    for scheme in ("https", "http"):
        url = f"{scheme}://{host}/v2/{repo}/manifests/{tag}"
        try:
            with requests.Session() as s:
                resp = s.head(url, headers={"Accept": MANIFEST_TYPES}, timeout=5)
        except requests.RequestException as exc:
            last = type(exc).__name__
            continue
        if resp.status_code == 200:
            return Item(f"image {ref}", True)
        if resp.status_code == 404:
            return Item(
                f"image {ref}",
                False,
                f"not in {registry}: python build.py --push --registry {registry}",
            )
        if resp.status_code == 401:
            return Item(
                f"image {ref}",
                False,
                f"{registry} needs credentials; check with `docker pull {ref}` after docker login",
            )
        last = f"HTTP {resp.status_code}"
    return Item(f"image {ref}", False, f"registry {host} unreachable from here ({last})")


def manager_items() -> list[Item]:
    """The engine: a reachable swarm manager; NotAManager / DockerError otherwise."""
    where = os.environ.get("DOCKER_HOST") or "the local engine"
    try:
        swarm = json.loads(docker("info", "--format", "{{json .Swarm}}", timeout=30))
    except (DockerError, ValueError) as exc:
        raise DockerError(f"no Docker engine answers at {where}") from exc
    if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
        raise NotAManager(
            "this engine is not a swarm manager: run `docker swarm init` or set DOCKER_HOST "
            "to a manager"
        )
    return [Item(f"swarm manager ({swarm.get('Nodes', '?')} nodes)", True)]


def _create_hint(name: str) -> str:
    for base, hint in zip(TLS_SECRETS, ("site.pem", "site-key.pem"), strict=True):
        if name == base or name.startswith(f"{base}_"):
            return f"docker secret create {name} {hint}  (docs/operations.md, HTTPS)"
    return f"printf '%s' \"$(openssl rand -hex 32)\" | docker secret create {name} -"


def secret_items(names: Iterable[str]) -> list[Item]:
    """Every secret the stack names (by the variables of this environment) exists."""
    have = set(docker("secret", "ls", "--format", "{{.Name}}").split())
    return [Item(f"secret {name}", name in have, _create_hint(name)) for name in names]


def container_secrets(container_spec: dict) -> dict[str, str]:
    """{file in /run/secrets: the swarm secret} of a service's or a task's
    ContainerSpec."""
    return {s["File"]["Name"]: s["SecretName"] for s in container_spec.get("Secrets") or []}


def secrets_in_use(stack: str = STACK) -> list[str]:
    """For each service of a deployed stack, the secrets its spec names
    (`file=secret`): which version of each secret every service uses."""
    ids = docker("service", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={stack}")
    if not ids.split():
        return []
    lines = []
    for service in sorted(
        json.loads(docker("service", "inspect", *ids.split())), key=lambda s: s["Spec"]["Name"]
    ):
        refs = container_secrets(service["Spec"]["TaskTemplate"]["ContainerSpec"])
        pairs = ", ".join(f"{file}={secret}" for file, secret in sorted(refs.items()))
        lines.append(f"{service['Spec']['Name']}: {pairs or 'no secrets'}")
    return lines


def label_items(db_nodes: int) -> list[Item]:
    """The database label on as many nodes as DB_NODES says (1, or 3 for Galera)."""
    key, value = DB_LABEL.split("=")
    ids = docker("node", "ls", "-q").split()
    nodes = json.loads(docker("node", "inspect", *ids)) if ids else []
    labelled = sorted(
        n["Description"]["Hostname"] for n in nodes if n["Spec"].get("Labels", {}).get(key) == value
    )
    problem = check_labels(labelled, db_nodes)
    if problem is None:
        return [Item(f"node label {DB_LABEL} on {', '.join(labelled)} (DB_NODES={db_nodes})", True)]
    return [Item(f"node label {DB_LABEL}", False, problem)]


def network_items() -> list[Item]:
    out = docker("network", "ls", "--filter", f"name=^{NETWORK}$", "--format", "{{json .}}")
    found = [json.loads(line) for line in out.splitlines() if line.strip()]
    create = (
        f"docker network create --driver overlay --subnet {SUBNET} --opt encrypted {NETWORK}"
        " (without --opt encrypted where ESP/IPsec is not available between nodes)"
    )
    if not found:
        return [Item(f"network {NETWORK}", False, create)]
    net = found[0]
    if net.get("Driver") != "overlay" or net.get("Scope") != "swarm":
        return [
            Item(
                f"network {NETWORK}",
                False,
                f"exists as {net.get('Driver')}/{net.get('Scope')}; remove it, then {create}",
            )
        ]
    return [Item(f"network {NETWORK} (overlay)", True)]


def run(
    files: Iterable[str] = ("stack.yml",),
    registry_address: dict[str, str] | None = None,
    out=print,
    db_nodes: int = 1,
) -> list[Item]:
    """Check everything; print each item; CheckFailed if any is missing."""
    items = manager_items()
    config = stack_config(files)
    items += secret_items(stack_secrets(config)) + label_items(db_nodes) + network_items()
    for ref in stack_images(config):
        registry = split_image(ref)[0]
        items.append(image_in_registry(ref, (registry_address or {}).get(registry)))
    for item in items:
        out(item.line())
    for line in secrets_in_use():
        out(f"in use   {line}")
    missing = [i for i in items if not i.ok]
    if missing:
        raise CheckFailed(f"{len(missing)} of {len(items)} items missing")
    out(f"all {len(items)} items ok: docker stack deploy -c {' -c '.join(files)} dws")
    return items
