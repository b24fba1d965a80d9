#!/usr/bin/env python3
"""The swarm lab: the tutorial's three-node Docker Swarm on one machine.

    dws lab up       # build (cached) and start everything
    dws lab status   # nodes, services, addresses, URLs
    dws lab down     # remove everything `up` created
    dws lab deploy   # the stack on it (dws.deploy)

`up` creates, all named with the prefix ``dws-lab``:

- a bridge network ``dws-lab``;
- ``dws-lab-tcr``: a private registry (Debian's docker-registry), known to the
  nodes as ``tcr:5000`` like the tutorial's registry host;
- ``dws-lab-cloud01`` (manager), ``dws-lab-cloud02`` and ``dws-lab-cloud03``
  (workers): Docker-in-Docker nodes with host names cloud01..03, in one swarm.
  cloud01's engine also listens on ``tcp://<its address>:2375`` (reachable only
  on the lab bridge) so that ``DOCKER_HOST=tcp://<address>:2375`` runs docker,
  ``docker stack deploy`` and ``build.py`` against the manager;
- a front load balancer: Debian's nginx as a host process serving HTTPS on a
  loopback port (and on another a redirect from plain HTTP), re-encrypting to
  port 443 of the three nodes, with passive health checks and retry to the
  next node (what a host-mode swarm needs in front of it); its certificate,
  and the one the nodes get as secrets, come from the lab's CA in
  ``build/lab/ca.pem`` (dws.lab_tls);
- in cloud01's engine, the stand-in base images of dws.standins, so that
  build.py can build there (skip with ``--no-bases`` or DWS_OFFICIAL_BASES=1).

The node and registry images are built from Debian packages with mmdebstrap
(so the lab needs no registry to pull from) and cached by a tag derived from
their recipe. The nodes run Docker Engine 26 (Debian 13's docker.io) unless
``--engine 20.10`` asks for Debian 12's. The lab's addresses live in
``build/lab/state.json``; the e2e tests use the same code through
:func:`up`, :func:`down` and :class:`Lab`.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from dws import frontlb, lab_tls, util
from dws.harness import Nginx

REPO = util.REPO
RECIPES = util.RECIPES / "lab"
STATE_DIR = util.LAB_DIR
STATE_FILE = STATE_DIR / "state.json"

PREFIX = "dws-lab"
NETWORK = PREFIX
LABEL = "dws-lab"  # on every container and image the lab creates; `down` looks for it
REGISTRY_CONTAINER = f"{PREFIX}-tcr"
REGISTRY = "tcr:5000"
NODES = ("cloud01", "cloud02", "cloud03")
MANAGER = NODES[0]
MANAGER_PORT = 2375
ENGINE_METRICS_PORT = 9323
DEFAULT_LB_PORT = 8443  # the front's HTTPS
DEFAULT_LB_HTTP_PORT = 8080  # the front's plain HTTP: a redirect to HTTPS

# The nodes' own docker0 and local networks must not overlap the outer lab
# bridge (from the host engine's pools: 172.17-31/16, then 192.168.x/20), or
# their routing breaks; _create_network checks it.
INNER_BIP = "192.168.250.1/24"
INNER_POOL = "base=192.168.252.0/22,size=24"

# The nodes' Docker Engine: the Debian release whose docker.io packages it.
# 26 is the default (what users run: healthcheck start_interval, API 1.45);
# 20.10 stays available so the stack is shown to work on an older swarm too.
ENGINES = {"26": "trixie", "20.10": "bookworm"}
DEFAULT_ENGINE = "26"
NODE_PACKAGES = ["docker.io", "iptables", "ca-certificates", "iproute2", "procps", "curl"]
# From trixie on, the docker CLI is a package of its own.
EXTRA_NODE_PACKAGES = {"trixie": ["docker-cli"]}
REGISTRY_RECIPE = {
    "suite": "bookworm",
    "packages": ["docker-registry", "ca-certificates"],
    "changes": [
        f"LABEL {LABEL}=registry",
        "EXPOSE 5000",
        "VOLUME /var/lib/docker-registry",
        'CMD ["docker-registry", "serve", "/etc/docker/registry/lab.yml"]',
    ],
    "uploads": [(RECIPES / "registry.yml", "/etc/docker/registry/lab.yml")],
}


class LabError(util.DwsError):
    """A lab operation failed; the message is one line meant for the user."""

    status = 4


class LabNotUp(LabError):
    """The command needs a lab that is up."""

    status = 5


class LabAlreadyUp(LabError):
    """`up` on a lab that is up already."""

    status = 6


class PortInUse(LabError):
    """The front load balancer's port is taken."""

    status = 7


def log(message: str) -> None:
    """Print one progress line (flushed, so it shows under pytest -s and in CI)."""
    print(f"lab: {message}", flush=True)


def docker(*args: str, host: str | None = None, **kwargs) -> str:
    """The docker CLI against the host's own engine, or ``host`` (a node's engine).

    Never the engine DOCKER_HOST names: after `export DOCKER_HOST=<cloud01>` as
    `status` suggests, `dws lab down` must still remove the lab from the host.
    """
    try:
        return util.docker(*args, host=host or "", **kwargs)
    except util.DockerError as exc:
        raise LabError(str(exc)) from exc


def inspect(kind: str, name: str) -> dict | None:
    """`docker <kind> inspect` as a dict, or None if it does not exist."""
    out = docker(kind, "inspect", name, check=False)
    data = json.loads(out or "[]")
    return data[0] if data else None


# ---------------------------------------------------------------- images


def node_recipe(engine: str) -> dict:
    """The recipe of a node image with Docker Engine ``engine`` (a key of ENGINES)."""
    if engine not in ENGINES:
        raise LabError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    suite = ENGINES[engine]
    return {
        "suite": suite,
        "packages": NODE_PACKAGES + EXTRA_NODE_PACKAGES.get(suite, []),
        "changes": [f"LABEL {LABEL}=node", "ENV container=docker", "VOLUME /var/lib/docker"],
        "uploads": [],
    }


def recipe_tag(name: str, recipe: dict) -> str:
    """The image tag for a recipe: changes to packages, options or files rebuild."""
    h = hashlib.sha256()
    h.update(json.dumps({k: v for k, v in recipe.items() if k != "uploads"}).encode())
    for src, dst in recipe["uploads"]:
        h.update(dst.encode())
        h.update(Path(src).read_bytes())
    return f"{PREFIX}/{name}:{recipe['suite']}-{h.hexdigest()[:12]}"


def ensure_images(engine: str = DEFAULT_ENGINE) -> dict[str, str]:
    """Build the node and registry images unless their tags exist; return the tags.

    The two mmdebstrap runs go in parallel (about 15-30 s each, mostly downloads).
    """
    wanted = {"node": node_recipe(engine), "registry": REGISTRY_RECIPE}
    tags = {name: recipe_tag(name, recipe) for name, recipe in wanted.items()}
    missing = [name for name, tag in tags.items() if inspect("image", tag) is None]
    if not missing:
        return tags
    if shutil.which("mmdebstrap") is None:
        raise LabError("mmdebstrap is not installed (run ./tests/setup.sh)")
    with tempfile.TemporaryDirectory(prefix="dws-lab-") as tmp:
        procs = {}
        for name in missing:
            recipe = wanted[name]
            tarball = Path(tmp) / f"{name}.tar"
            cmd = [
                "mmdebstrap",
                "--quiet",
                "--variant=minbase",
                "--include=" + ",".join(recipe["packages"]),
            ]
            cmd += [f"--customize-hook=upload {src} {dst}" for src, dst in recipe["uploads"]]
            cmd += [recipe["suite"], str(tarball)]
            log(f"building image {tags[name]} with mmdebstrap ({', '.join(recipe['packages'])})")
            procs[name] = (
                subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT),
                tarball,
            )
        for name, (proc, tarball) in procs.items():
            out, _ = proc.communicate(timeout=900)
            if proc.returncode != 0:
                tail = out.decode(errors="replace").strip().splitlines()[-3:]
                raise LabError(f"mmdebstrap for the {name} image failed: {' | '.join(tail)}")
            args = ["import"]
            for change in wanted[name]["changes"]:
                args += ["--change", change]
            docker(*args, str(tarball), tags[name], timeout=600)
            log(f"imported {tags[name]}")
    return tags


# ---------------------------------------------------------------- state


@dataclass
class Lab:
    """A running lab, as recorded in build/lab/state.json."""

    nodes: dict[str, str]  # host name -> address on the lab bridge
    registry_ip: str
    lb_port: int  # HTTPS
    lb_pid: int
    lb_http_port: int = 0  # plain HTTP, which redirects to lb_port
    bases: dict[str, str] = field(default_factory=dict)  # stand-in base images in cloud01
    engine: str = DEFAULT_ENGINE  # the key of ENGINES the nodes were built for
    engine_version: str = ""  # what the nodes' dockerd reports, e.g. 26.1.5+dfsg1

    @property
    def build_command(self) -> str:
        """The build.py command line for this lab (stand-in bases if loaded)."""
        args = "".join(f" --base-image {name}={tag}" for name, tag in self.bases.items())
        return f"python build.py --push --registry {REGISTRY}{args}"

    @property
    def manager_host(self) -> str:
        """DOCKER_HOST value for the manager's engine."""
        return f"tcp://{self.nodes[MANAGER]}:{MANAGER_PORT}"

    @property
    def lb_url(self) -> str:
        """Base URL of the front load balancer on loopback (HTTPS, the lab's CA)."""
        return f"https://127.0.0.1:{self.lb_port}"

    @property
    def lb_http_url(self) -> str:
        """The front's plain HTTP address, which answers with a redirect."""
        return f"http://127.0.0.1:{self.lb_http_port}"

    @classmethod
    def load(cls) -> Lab:
        """Read the state file written by `up`; LabError if the lab is not up."""
        try:
            data = json.loads(STATE_FILE.read_text())
        except FileNotFoundError as exc:
            raise LabNotUp("the lab is not up (run: dws lab up)") from exc
        return cls(**data)

    def save(self) -> None:
        """Write the state file."""
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        STATE_FILE.write_text(json.dumps(self.__dict__, indent=2) + "\n")

    def docker(self, *args: str, **kwargs) -> str:
        """Run the docker CLI against the manager (cloud01)."""
        return docker(*args, host=self.manager_host, **kwargs)

    def node_docker(self, node: str, *args: str, **kwargs) -> str:
        """Run the docker CLI inside a node, against that node's own engine
        (``input``, if given, is its standard input)."""
        interactive = ["-i"] if kwargs.get("input") is not None else []
        return docker("exec", *interactive, f"{PREFIX}-{node}", "docker", *args, **kwargs)

    def load_image(self, tag: str, target: str | None = None) -> None:
        """Copy an image from the host engine into the manager's engine.

        `docker save | docker load` streamed through a pipe, so a stand-in
        base image built on the host can be used by build.py on cloud01.
        ``target`` re-tags it there (the host tag is kept otherwise).
        """
        # Through a file rather than a pipe: both halves go through the
        # package's one docker runner, each with its own error and timeout.
        with tempfile.TemporaryDirectory(prefix="dws-image-") as tmp:
            archive = str(Path(tmp) / "image.tar")
            try:
                util.docker("save", "--output", archive, tag, host="", timeout=600)
                util.docker(
                    "load", "--quiet", "--input", archive, host=self.manager_host, timeout=600
                )
            except util.DockerError as exc:
                raise LabError(f"could not copy image {tag} to {MANAGER}: {exc}") from exc
        if target and target != tag:
            self.docker("tag", tag, target)


# ---------------------------------------------------------------- up


def _wait(what: str, probe, timeout: float, interval: float = 0.5):
    """Poll ``probe`` until it returns a truthy value; LabError after ``timeout``."""
    return util.wait_until(what, probe, timeout, interval, error=LabError)


def _create_network() -> None:
    """Create the lab bridge on a subnet that the nodes do not use inside.

    The engine hands out subnets from its pools in turn (172.17-31/16, then
    192.168.x/20), so after many up/down cycles it can offer one overlapping
    the nodes' own bridge or pool; creating again moves on to the next one.
    """
    inner = [
        ipaddress.ip_network(INNER_BIP, strict=False),
        ipaddress.ip_network(INNER_POOL.split(",")[0].removeprefix("base=")),
        ipaddress.ip_network("10.0.0.0/8"),  # Swarm's default pool for overlay networks
    ]
    for _attempt in range(4):
        docker("network", "create", "--driver", "bridge", "--label", f"{LABEL}=network", NETWORK)
        configs = (inspect("network", NETWORK) or {}).get("IPAM", {}).get("Config") or []
        subnets = [ipaddress.ip_network(c["Subnet"]) for c in configs if c.get("Subnet")]
        if not any(sub.overlaps(net) for sub in subnets for net in inner):
            return
        docker("network", "rm", NETWORK)
    raise LabError(
        f"the engine keeps giving network {NETWORK} a subnet that overlaps "
        f"{', '.join(map(str, inner))}, used inside the nodes"
    )


def _container_ip(name: str) -> str:
    info = inspect("container", name)
    if not info:
        raise LabError(f"container {name} vanished")
    return info["NetworkSettings"]["Networks"][NETWORK]["IPAddress"]


def _start_node(node: str, image: str) -> None:
    dockerd = [
        "dockerd",
        "--host",
        "unix:///var/run/docker.sock",
        "--insecure-registry",
        REGISTRY,
        "--bip",
        INNER_BIP,
        "--default-address-pool",
        INNER_POOL,
        # The engine's own metrics, which Prometheus scrapes on every node
        # (stack.monitoring.yml): a node that stops answering is down.
        "--metrics-addr",
        f"0.0.0.0:{ENGINE_METRICS_PORT}",
    ]
    if node == MANAGER:
        # Plain TCP without TLS is acceptable only because the lab bridge is
        # private to the host; it lets the host's CLI and build.py drive
        # the manager exactly as a user on cloud01 would.
        dockerd += ["--host", f"tcp://0.0.0.0:{MANAGER_PORT}"]
    docker(
        "run",
        "-d",
        "--name",
        f"{PREFIX}-{node}",
        "--hostname",
        node,
        "--label",
        f"{LABEL}=node",
        "--network",
        NETWORK,
        # Not --privileged: it fails on hosts whose kernel lacks one of the
        # capabilities it asks for; this explicit set works there and elsewhere.
        "--cap-add",
        "ALL",
        "--cap-drop",
        "SYS_RESOURCE",
        "--security-opt",
        "seccomp=unconfined",
        "--security-opt",
        "apparmor=unconfined",
        "--security-opt",
        "systempaths=unconfined",
        "--cgroupns",
        "host",
        "-v",
        "/sys/fs/cgroup:/sys/fs/cgroup",
        # An anonymous volume: overlay2 cannot stack on the node's own overlay root.
        "-v",
        "/var/lib/docker",
        # Runtime state (pid files, sockets) on a tmpfs, as on a real host:
        # a node that was killed (power loss) and is started again boots
        # clean; a stale /var/run/docker.pid would keep dockerd from starting.
        "--tmpfs",
        "/run",
        image,
        *dockerd,
    )


def engine_version(node: str) -> str:
    """The version a node's dockerd reports; "" while it does not answer."""
    return docker(
        "exec", f"{PREFIX}-{node}", "docker", "info", "--format", "{{.ServerVersion}}",
        check=False,
    ).strip()  # fmt: skip


def crash_node(node: str) -> None:
    """Kill a node's container at once: no shutdown, as a host losing power."""
    docker("kill", f"{PREFIX}-{node}")


def restart_node(lab: Lab, node: str) -> None:
    """Start a crashed node's container again: same name, same address, same
    disk (its /var/lib/docker volume); it rejoins the swarm by itself."""
    docker("start", f"{PREFIX}-{node}")
    address = _container_ip(f"{PREFIX}-{node}")
    if address != lab.nodes[node]:
        raise LabError(f"{node} came back on {address}, not {lab.nodes[node]}")
    _wait(f"{node}'s engine", lambda: engine_version(node), 90)


def _lb() -> Nginx:
    lb_dir = STATE_DIR / "lb"
    return Nginx(lb_dir, lb_dir / "nginx.conf")


def _start_lb(lab_nodes: dict[str, str], port: int, http_port: int) -> int:
    lb = _lb()
    lb.conf.parent.mkdir(parents=True, exist_ok=True)
    lab_tls.ensure(lab_nodes)
    lb.conf.write_text(
        frontlb.render(
            [(node, f"{ip}:443") for node, ip in lab_nodes.items()],
            listen=f"127.0.0.1:{port}",
            state_dir=lb.prefix,
            tls=frontlb.FrontTls(
                certificate=lab_tls.SITE_CERT,
                key=lab_tls.SITE_KEY,
                trusted_ca=lab_tls.CA_CERT,
                node_name=lab_tls.SITE_NAME,
            ),
            http_listen=f"127.0.0.1:{http_port}",
        )
    )
    frontlb.make_state_dir(lb.prefix)
    try:
        return lb.start_detached(lb.prefix / "nginx.pid")
    except RuntimeError as exc:
        raise LabError(f"the front load balancer did not start: {exc}") from exc


def load_bases(lab: Lab) -> dict[str, str]:
    """Put the stand-in base images (dws.standins) into the manager's engine.

    Where no registry can be pulled from, build.py on cloud01
    needs the python, nginx and mysql stand-ins there: built (cached) on the
    host's engine, then copied. Returns {name: tag} for build.py --base-image.
    """
    from dws import standins  # needs the docker SDK

    started = time.monotonic()
    try:
        tags = standins.ensure_all()
    except Exception as exc:  # noqa: BLE001 - any failure becomes one line
        raise LabError(f"could not build the stand-in base images: {exc}") from exc
    for tag in tags.values():
        lab.load_image(tag)
    log(
        f"stand-in bases in {MANAGER}: {', '.join(tags.values())} "
        f"({time.monotonic() - started:.0f} s)"
    )
    return tags


def _choose_port(port: int, flag: str) -> int:
    if port == 0:
        return util.free_port()
    if util.port_in_use(port):
        raise PortInUse(f"port {port} on 127.0.0.1 is in use; pass {flag} N (0: any)")
    return port


def up(
    lb_port: int = DEFAULT_LB_PORT,
    http_port: int = DEFAULT_LB_HTTP_PORT,
    bases: bool = True,
    engine: str = DEFAULT_ENGINE,
) -> Lab:
    """Create the whole lab and return it; LabError (after cleaning up) on failure.

    The nodes run Docker Engine ``engine`` (a key of ENGINES). With ``bases``
    (and unless DWS_OFFICIAL_BASES=1) the stand-in base images are copied
    into cloud01 so that build.py can build there.
    """
    node_recipe(engine)  # an unknown engine fails before anything is created
    if STATE_FILE.exists() or inspect("container", f"{PREFIX}-{MANAGER}"):
        raise LabAlreadyUp("a lab is already up (dws lab status | down)")
    if docker("info", "--format", "{{.ServerVersion}}", check=False).strip() == "":
        raise util.DockerError("the Docker engine is not reachable (run ./tests/setup.sh)")
    if inspect("network", NETWORK) or docker("ps", "-aq", "--filter", f"label={LABEL}").strip():
        log("removing the leftovers of an interrupted lab")
        down(quiet=True)
    lb_port = _choose_port(lb_port, "--port")
    http_port = _choose_port(http_port, "--http-port")
    if http_port == lb_port:
        raise PortInUse(f"--port and --http-port are both {lb_port}")
    started = time.monotonic()
    tags = ensure_images(engine)
    try:
        _create_network()
        docker(
            "run",
            "-d",
            "--name",
            REGISTRY_CONTAINER,
            "--hostname",
            "tcr",
            "--label",
            f"{LABEL}=registry",
            "--network",
            NETWORK,
            "--network-alias",
            "tcr",
            tags["registry"],
        )
        for node in NODES:
            _start_node(node, tags["node"])
        versions = {
            node: _wait(f"the engine in {node}", lambda n=node: engine_version(n), 90)
            for node in NODES
        }
        nodes = {node: _container_ip(f"{PREFIX}-{node}") for node in NODES}
        registry_ip = _container_ip(REGISTRY_CONTAINER)
        lab = Lab(
            nodes=nodes,
            registry_ip=registry_ip,
            lb_port=lb_port,
            lb_pid=0,
            lb_http_port=http_port,
            engine=engine,
            engine_version=versions[MANAGER],
        )
        log(
            f"nodes up on Docker Engine {lab.engine_version}: "
            f"{', '.join(f'{n} {ip}' for n, ip in nodes.items())}"
        )
        lab.node_docker(MANAGER, "swarm", "init", "--advertise-addr", nodes[MANAGER])
        token = lab.node_docker(MANAGER, "swarm", "join-token", "-q", "worker").strip()
        for node in NODES[1:]:
            lab.node_docker(node, "swarm", "join", "--token", token, f"{nodes[MANAGER]}:2377")
        _wait(
            "three Ready nodes",
            lambda: (
                lab.docker("node", "ls", "--format", "{{.Status}}").split().count("Ready")
                == len(NODES)
            ),
            60,
        )
        _wait("the registry", lambda: _http_ok(f"http://{registry_ip}:5000/v2/"), 30)
        _wait(
            "the manager's TCP endpoint",
            lambda: docker(
                "version", "--format", "{{.Server.Version}}", host=lab.manager_host, check=False
            ).strip(),
            60,
        )
        lab.lb_pid = _start_lb(nodes, lb_port, http_port)
        lab.save()
        if bases and os.environ.get("DWS_OFFICIAL_BASES") != "1":
            lab.bases = load_bases(lab)
            lab.save()
    except BaseException:
        log("up failed; removing what was created")
        with contextlib.suppress(Exception):
            down(quiet=True)
        raise
    log(f"up in {time.monotonic() - started:.0f} s")
    return lab


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


# ---------------------------------------------------------------- down


def reload_lb() -> None:
    """The front load balancer reads its configuration and certificate again
    (a rotated certificate) without dropping a request."""
    try:
        _lb().reload()
    except RuntimeError as exc:
        raise LabError(f"the front load balancer did not reload: {exc}") from exc


def _stop_lb() -> bool:
    lb = _lb()
    return lb.stop_detached(lb.prefix / "nginx.pid")


# Where stack.monitoring.yml publishes them on the manager (host mode).
PROMETHEUS_PORT = 9090
ALERTMANAGER_PORT = 9093


def _monitoring_proxy() -> Nginx:
    proxy_dir = STATE_DIR / "monitoring-proxy"
    return Nginx(proxy_dir, proxy_dir / "nginx.conf")


def _usual_or_free(port: int) -> int:
    return util.free_port() if util.port_in_use(port) else port


@dataclass(frozen=True)
class MonitoringPorts:
    """Where the monitoring proxy answers on loopback."""

    prometheus: int
    alertmanager: int


def monitoring_ports() -> MonitoringPorts | None:
    """The monitoring proxy's ports; None while it has not been started.
    Kept in a file of their own: every process that loads the lab reads
    them there, whenever the proxy was started."""
    try:
        return MonitoringPorts(
            **json.loads((_monitoring_proxy().prefix / "ports.json").read_text())
        )
    except FileNotFoundError:
        return None


def start_monitoring_proxy(lab: Lab) -> MonitoringPorts:
    """Prometheus and Alertmanager of the manager on the host's loopback
    (their usual ports where free), as an operator reaches them through a
    tunnel or a proxy only they may use; idempotent."""
    proxy = _monitoring_proxy()
    pid_file = proxy.prefix / "nginx.pid"
    ports = monitoring_ports()
    if ports is not None and pid_file.exists():
        return ports
    ports = MonitoringPorts(_usual_or_free(PROMETHEUS_PORT), _usual_or_free(ALERTMANAGER_PORT))
    manager = lab.nodes[MANAGER]
    servers = "".join(
        f"""
    server {{
        listen 127.0.0.1:{port};
        location / {{ proxy_pass http://{manager}:{target}; }}
    }}"""
        for port, target in (
            (ports.prometheus, PROMETHEUS_PORT),
            (ports.alertmanager, ALERTMANAGER_PORT),
        )
    )
    proxy.prefix.mkdir(parents=True, exist_ok=True)
    # Small answers, passed on as they come: no temporary files.
    proxy.conf.write_text(
        f"""pid {pid_file};
error_log {proxy.prefix / "error.log"};
events {{}}
http {{
    access_log off;
    proxy_buffering off;
    proxy_read_timeout 30s;{servers}
}}
"""
    )
    try:
        proxy.start_detached(pid_file)
    except RuntimeError as exc:
        raise LabError(f"the monitoring proxy did not start: {exc}") from exc
    (proxy.prefix / "ports.json").write_text(json.dumps(ports.__dict__) + "\n")
    return ports


def _stop_monitoring_proxy() -> bool:
    proxy = _monitoring_proxy()
    return proxy.stop_detached(proxy.prefix / "nginx.pid")


def _remove_container(name: str) -> str | None:
    """Remove one lab container and its anonymous volumes; return its name if it existed."""
    info = inspect("container", name)
    if not info:
        return None
    if info["Config"]["Labels"].get(LABEL) == "node" and info["State"]["Running"]:
        # Remove the node's own containers first, through its engine, so their
        # cgroups (shared with the host: --cgroupns host) are cleaned up
        # instead of being left behind by a SIGKILL of the whole node.
        docker(
            "exec", name, "sh", "-c", "docker ps -aq | xargs -r docker rm -f",
            check=False, timeout=120,
        )  # fmt: skip
    docker("rm", "-f", "-v", name, check=False, timeout=300)
    return name


def down(quiet: bool = False, images: bool = False) -> None:
    """Remove everything `up` created: load balancer, containers, volumes, network, state.

    Only things carrying the lab's label and name prefix are touched.
    """
    started = time.monotonic()
    removed = []
    if _stop_lb():
        removed.append("front load balancer")
    if _stop_monitoring_proxy():
        removed.append("monitoring proxy")
    ids = docker("ps", "-aq", "--filter", f"label={LABEL}", check=False).split()
    names = []
    for cid in ids:
        info = inspect("container", cid)
        if info and info["Name"].lstrip("/").startswith(PREFIX):
            names.append(info["Name"].lstrip("/"))
    # In parallel: each node's volume holds its images, and deleting them is
    # most of the time `down` takes.
    with ThreadPoolExecutor(max_workers=4) as pool:
        removed += [name for name in pool.map(_remove_container, names) if name]
    if inspect("network", NETWORK):
        docker("network", "rm", NETWORK, check=False)
        removed.append(f"network {NETWORK}")
    if images:
        for tag in docker(
            "images",
            "--filter",
            f"label={LABEL}",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            check=False,
        ).split():
            if tag.startswith(f"{PREFIX}/"):
                docker("rmi", tag, check=False)
                removed.append(tag)
    shutil.rmtree(STATE_DIR, ignore_errors=True)
    if not quiet:
        what = ", ".join(removed) if removed else "nothing was up"
        log(f"down in {time.monotonic() - started:.0f} s ({what})")


# ---------------------------------------------------------------- status


def status() -> None:
    """Print the nodes, services, addresses, registry and front load balancer URL."""
    lab = Lab.load()
    print(f"manager engine : DOCKER_HOST={lab.manager_host} (Docker Engine {lab.engine_version})")
    for node, ip in lab.nodes.items():
        role = "manager" if node == MANAGER else "worker"
        print(f"{node:<15}: {ip:<15} {role}, https://{ip}/")
    catalog = "unreachable"
    try:
        with urllib.request.urlopen(f"http://{lab.registry_ip}:5000/v2/_catalog", timeout=3) as r:
            catalog = ", ".join(json.load(r).get("repositories", [])) or "empty"
    except OSError:
        pass
    print(f"registry       : {REGISTRY} ({lab.registry_ip}:5000): {catalog}")
    print(f"front LB       : {lab.lb_url}/  (pid {lab.lb_pid}; trust {lab_tls.CA_CERT})")
    print(f"front LB, http : {lab.lb_http_url}/  (a 301 to the https address)")
    print(f"try            : curl --cacert {lab_tls.CA_CERT} {lab.lb_url}/countries")
    ports = monitoring_ports()
    if ports is not None:
        print(
            f"prometheus     : http://127.0.0.1:{ports.prometheus}/"
            "  (stack.monitoring.yml, dws lab deploy --monitoring)"
        )
        print(f"alertmanager   : http://127.0.0.1:{ports.alertmanager}/")
    print(f"build & push   : DOCKER_HOST={lab.manager_host} {lab.build_command}")
    print()
    print(lab.docker("node", "ls", check=False).rstrip())
    print()
    print(lab.docker("service", "ls", check=False).rstrip() or "(no services)")
