"""Helpers of the `docker` tier; the fixtures using them are in conftest.py."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests
import requests.adapters

from dws import tls
from dws.util import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]

OFFICIAL = os.environ.get("DWS_OFFICIAL_BASES") == "1"
NAMESPACE = "myhub"


# --registry values used by this session's build.py runs: their tags are
# removed at the end (see untag_registries).
REGISTRIES_USED: set[str] = set()


def run_build(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT, timeout=1800):
    """Run build.py exactly as a user does; returns the CompletedProcess."""
    if "--registry" in args:
        REGISTRIES_USED.add(args[args.index("--registry") + 1])
    return subprocess.run(
        [sys.executable, str(cwd / "build.py"), *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass
class Registry:
    """A docker-registry process serving on 127.0.0.1:port."""

    address: str
    process: subprocess.Popen
    log: Path

    def get(self, path: str, **kwargs) -> requests.Response:
        """GET on the registry's HTTP API (v2)."""
        return requests.get(f"http://{self.address}{path}", timeout=10, **kwargs)


@contextlib.contextmanager
def registry_process(workdir: Path, htpasswd: Path | None = None) -> Iterator[Registry]:
    """Start Debian's docker-registry with our own config; stop it afterwards."""
    port = free_port()
    storage = workdir / "storage"
    storage.mkdir(parents=True)
    config = workdir / "config.yml"
    auth = ""
    if htpasswd:
        auth = f"auth:\n  htpasswd:\n    realm: dws-test\n    path: {htpasswd}\n"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n" + auth
    )
    log = workdir / "registry.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            ["docker-registry", "serve", str(config)], stdout=fh, stderr=subprocess.STDOUT
        )
    reg = Registry(f"127.0.0.1:{port}", proc, log)
    try:
        try:
            wait_until(
                "docker-registry",
                lambda: reg.get("/v2/").status_code in (200, 401),
                30,
                0.2,
                proc=proc,
                error=RuntimeError,
            )
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}: {log.read_text()[-2000:]}") from exc
        yield reg
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def server_tag(api, image: str, kind: str) -> str:
    env = dict(e.split("=", 1) for e in api.inspect_image(image)["Config"]["Env"] or [])
    raw = env.get("NGINX_VERSION") if kind == "nginx" else env.get("MYSQL_VERSION")
    raw = raw or env.get("MARIADB_VERSION", "")
    raw = raw.split(":", 1)[-1]
    major, minor = raw.split(".")[:2]
    return f"{major}.{minor}-dws"


@dataclass
class Built:
    """What the session's build.py run produced."""

    proc: subprocess.CompletedProcess
    registry: Registry
    tags: dict[str, str]  # key -> full reference: mysql, nginx, boot1, boot2, broken

    def image(self, key: str) -> str:
        """The full reference of one of the built images."""
        return self.tags[key]


class Containers:
    """Starts dws-test-* containers and networks; removes them all at the end."""

    def __init__(self, api: docker.APIClient) -> None:
        self.api = api
        self.containers: list[str] = []
        self.networks: list[str] = []

    def network(self) -> str:
        """A new user-defined bridge network (its DNS is 127.0.0.11)."""
        name = f"dws-test-net-{secrets.token_hex(4)}"
        self.api.create_network(name, driver="bridge")
        self.networks.append(name)
        return name

    def run(
        self,
        image: str,
        purpose: str,
        *,
        network: str | None = None,
        aliases: list[str] | None = None,
        environment: dict[str, str] | None = None,
        binds: dict[str, dict] | None = None,
        command: list[str] | None = None,
    ) -> str:
        """Create and start a container; returns its name."""
        name = f"dws-test-{purpose}-{secrets.token_hex(3)}"
        host_config = self.api.create_host_config(binds=binds or {})
        networking = None
        if network:
            networking = self.api.create_networking_config(
                {network: self.api.create_endpoint_config(aliases=aliases or [])}
            )
        self.api.create_container(
            image,
            name=name,
            command=command,
            environment=environment or {},
            host_config=host_config,
            networking_config=networking,
        )
        self.containers.append(name)
        self.api.start(name)
        return name

    def ip(self, name: str) -> str:
        """The container's address on its (only) network."""
        nets = self.api.inspect_container(name)["NetworkSettings"]["Networks"]
        return next(iter(nets.values()))["IPAddress"]

    def health(self, name: str) -> str:
        """starting, healthy or unhealthy (or the state if the container stopped)."""
        state = self.api.inspect_container(name)["State"]
        if not state["Running"]:
            return f"exited({state['ExitCode']})"
        return state.get("Health", {}).get("Status", "none")

    def wait_health(self, name: str, want: str, timeout: float) -> float:
        """Wait until the health status is WANT; returns the seconds it took."""
        started = time.monotonic()
        status = ""
        while time.monotonic() - started < timeout:
            status = self.health(name)
            if status == want:
                return time.monotonic() - started
            if status.startswith("exited"):
                break
            time.sleep(0.5)
        logs = self.api.logs(name, tail=60).decode(errors="replace")
        raise AssertionError(f"{name} is {status}, not {want}, after {timeout}s; logs:\n{logs}")

    def exec(self, name: str, cmd: list[str], user: str = "") -> tuple[int, str]:
        """Run CMD inside the container; (exit code, combined output)."""
        ex = self.api.exec_create(name, cmd, user=user)
        output = self.api.exec_start(ex).decode(errors="replace")
        return self.api.exec_inspect(ex)["ExitCode"], output

    def cleanup(self) -> None:
        """Remove everything this object created."""
        for name in reversed(self.containers):
            with contextlib.suppress(docker.errors.NotFound):
                self.api.remove_container(name, force=True, v=True)
        for name in self.networks:
            with contextlib.suppress(docker.errors.NotFound):
                self.api.remove_network(name)


def read_secret(secrets_dir: Path, name: str) -> str:
    """A secret as the services read it: trailing newline stripped."""
    return (secrets_dir / name).read_text().rstrip("\n")


@dataclass
class AppContainers:
    """mysql + two bootservice versions on one network, as the swarm runs them."""

    network: str
    mysql: str
    boot1: str
    boot2: str
    boot_env: dict[str, str]  # what a bootservice container needs to reach mysql
    binds: dict[str, dict]  # the secrets, mounted at /run/secrets


def copy_tree_for_build(dest: Path) -> Path:
    """A copy of what build.py needs (to change code without touching the checkout)."""
    shutil.copy2(ROOT / "build.py", dest / "build.py")
    shutil.copy2(ROOT / ".dockerignore", dest / ".dockerignore")
    shutil.copytree(
        ROOT / "services", dest / "services", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    if (ROOT / "build" / "wheels").is_dir():
        shutil.copytree(ROOT / "build" / "wheels", dest / "build" / "wheels")
    return dest


def untag_registries(api: docker.APIClient, registries: set[str]) -> None:
    """Remove the local tags build.py made for these test registries.

    Only the tags go: noprune keeps the parent layers, the build cache that
    makes the next session's builds fast.
    """
    for image in api.images():
        for tag in image.get("RepoTags") or []:
            if any(tag.startswith(f"{reg}/") for reg in registries):
                with contextlib.suppress(docker.errors.APIError):
                    api.remove_image(tag, noprune=True)


# ------------------------------------------------------------------- TLS

# The name the test certificates are issued for: containers are reached by
# address, and the TLS clients below ask for (and check) this name.
SITE_NAME = "nginx.dws.test"


@dataclass(frozen=True)
class SiteTls:
    """A CA and the files nginx reads as its secrets, in one directory."""

    directory: Path  # mounted at /run/secrets
    ca: Path

    @property
    def binds(self) -> dict[str, dict]:
        """The directory as the container's /run/secrets."""
        return {str(self.directory): {"bind": "/run/secrets", "mode": "ro"}}


def write_site_tls(directory: Path, ca: Any, pair: Any) -> SiteTls:
    """`pair` (a dws.tls.ServerCertificate) as nginx_tls_certificate and
    nginx_tls_key in `directory`, readable by the container's nginx user."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "nginx_tls_certificate").write_bytes(pair.cert_pem)
    (directory / "nginx_tls_key").write_bytes(pair.key_pem)
    (directory / "ca.pem").write_bytes(ca.cert_pem)
    directory.chmod(0o755)
    for f in directory.iterdir():
        f.chmod(0o644)
    return SiteTls(directory, directory / "ca.pem")


class _NamedHostAdapter(requests.adapters.HTTPAdapter):
    """Connects to whatever address a URL names, but asks for and verifies
    the certificate of `hostname`."""

    def __init__(self, hostname: str) -> None:
        self.hostname = hostname
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["server_hostname"] = self.hostname
        kwargs["assert_hostname"] = self.hostname
        super().init_poolmanager(*args, **kwargs)


def https_session(ca: Path, hostname: str = SITE_NAME) -> requests.Session:
    """A session trusting `ca` and expecting a certificate for `hostname`."""
    session = tls.client_session(ca)
    session.mount("https://", _NamedHostAdapter(hostname))
    return session
