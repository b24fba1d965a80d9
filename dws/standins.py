"""Stand-in base images for machines that cannot pull the official ones.

The images of this project are based on the official `python`, `nginx` and
`mysql` images. Where no registry is reachable, the tests
and the swarm lab build look-alikes from Debian packages instead: a root
filesystem from `mmdebstrap`, turned into an image by `docker import` with the
ENV / ENTRYPOINT / CMD the official image has. Each stand-in implements the
part of the official image's contract that our Dockerfiles rely on; the files
under `dws/recipes/standins/<name>/` say which.

API (all a caller needs)::

    from dws import standins
    tag = standins.ensure_base("python")    # -> "dws-standin/python:bookworm"
    tags = standins.ensure_all()            # {"python": ..., "nginx": ..., "mysql": ...}
    standins.base_image_args(tags)          # ["--base-image", "python=...", ...]

`ensure_base` builds the image only when the tag is missing or was built from
a different recipe (a hash of this module's spec and the files it uses is kept
in a label), so a second call returns at once. It talks to the engine named by
DOCKER_HOST, like the docker CLI. It needs root (mmdebstrap) and about 15-40 s
per image on a cold cache.

`dws standins [NAME ...]` does the same from a shell and prints the tags.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors

HERE = Path(__file__).resolve().parent / "recipes" / "standins"
REPOSITORY = "dws-standin"
SUITE = "bookworm"
HASH_LABEL = "org.dws.standin.recipe"

# Documentation, man pages and translations are of no use in a base image and
# make every import slower; copyright files stay.
_DPKG_SLIM = [
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
]


@dataclass(frozen=True)
class StandIn:
    """How one stand-in is made: packages, a customize script, image config."""

    name: str
    packages: tuple[str, ...]
    # Dockerfile instructions for `docker import --change`; `{version}` is
    # replaced by what the customize script reports (the server's version).
    changes: tuple[str, ...]
    files: tuple[str, ...] = field(default=())

    @property
    def tag(self) -> str:
        """The image reference this stand-in is stored under."""
        return f"{REPOSITORY}/{self.name}:{SUITE}"

    def recipe_hash(self) -> str:
        """Hash of everything that shapes the image; a change forces a rebuild."""
        h = hashlib.sha256()
        h.update(json.dumps([self.packages, self.changes, _DPKG_SLIM, SUITE]).encode())
        for rel in ("customize.sh", *self.files):
            h.update(rel.encode())
            h.update((HERE / self.name / rel).read_bytes())
        return h.hexdigest()[:16]


STANDINS: dict[str, StandIn] = {
    # python:3.11-slim-bookworm: `python`, `python3` and the venv module on
    # PATH, LANG=C.UTF-8, PYTHON_VERSION set, CMD python3.
    "python": StandIn(
        name="python",
        packages=("python3", "python3-venv", "python-is-python3", "ca-certificates"),
        changes=(
            "ENV LANG=C.UTF-8",
            "ENV PYTHON_VERSION={version}",
            'CMD ["python3"]',
        ),
    ),
    # nginx: /etc/nginx/nginx.conf including conf.d/*.conf, user nginx (101),
    # logs to stdout/stderr, NGINX_VERSION set, `nginx -g 'daemon off;'`.
    # (The official image's STOPSIGNAL SIGQUIT cannot be set by `docker
    # import`; services/nginx/Dockerfile sets it itself.)
    "nginx": StandIn(
        name="nginx",
        # openssl: as in the official image (ca-certificates brings it there).
        packages=("nginx", "openssl"),
        changes=(
            "ENV NGINX_VERSION={version}",
            "EXPOSE 80 443",
            'CMD ["nginx", "-g", "daemon off;"]',
        ),
        files=("nginx.conf", "default.conf"),
    ),
    # mysql: the official mariadb image's look-alike: MariaDB (with Galera,
    # rsync and socat, as the server package brings them) behind an
    # entrypoint that honours the official variables and
    # /docker-entrypoint-initdb.d (see docker-entrypoint.sh).
    "mysql": StandIn(
        name="mysql",
        packages=("mariadb-server", "mariadb-client", "galera-4", "rsync", "socat", "tzdata"),
        changes=(
            "ENV MARIADB_VERSION={version}",
            "ENV LANG=C.UTF-8",
            "VOLUME /var/lib/mysql",
            "EXPOSE 3306",
            'ENTRYPOINT ["docker-entrypoint.sh"]',
            'CMD ["mariadbd"]',
        ),
        files=("docker-entrypoint.sh",),
    ),
    # The monitoring override's images (stack.monitoring.yml), from Debian's
    # packages of the same programs (older releases: docs/monitoring.md says
    # which). Each has the official image's entry point, user and port.
    "prometheus": StandIn(
        name="prometheus",
        packages=("prometheus",),
        changes=(
            "USER nobody",
            "WORKDIR /prometheus",
            "EXPOSE 9090",
            'ENTRYPOINT ["/bin/prometheus"]',
            'CMD ["--config.file=/etc/prometheus/prometheus.yml", '
            '"--storage.tsdb.path=/prometheus"]',
        ),
    ),
    "alertmanager": StandIn(
        name="alertmanager",
        packages=("prometheus-alertmanager",),
        changes=(
            "USER nobody",
            "WORKDIR /alertmanager",
            "EXPOSE 9093",
            'ENTRYPOINT ["/bin/alertmanager"]',
            'CMD ["--config.file=/etc/alertmanager/alertmanager.yml", '
            '"--storage.path=/alertmanager"]',
        ),
    ),
    "nginx-exporter": StandIn(
        name="nginx-exporter",
        packages=("prometheus-nginx-exporter",),
        changes=(
            "USER nobody",
            "EXPOSE 9113",
            'ENTRYPOINT ["/usr/bin/nginx-prometheus-exporter"]',
        ),
    ),
    "mysqld-exporter": StandIn(
        name="mysqld-exporter",
        packages=("prometheus-mysqld-exporter",),
        changes=(
            "USER nobody",
            "EXPOSE 9104",
            'ENTRYPOINT ["/bin/mysqld_exporter"]',
        ),
    ),
}
# The bases of the project's own images (build.py --base-image).
BASES = ("python", "nginx", "mysql")
# The images stack.monitoring.yml runs; the lab pushes their stand-ins.
MONITORING = ("prometheus", "alertmanager", "nginx-exporter", "mysqld-exporter")

OFFICIAL = {
    # What the Dockerfiles default to; used when DWS_OFFICIAL_BASES=1.
    "python": "python:3.11.14-slim-bookworm",
    "nginx": "nginx:1.27.5",
    "mysql": "mariadb:10.11.18",
}


def _log(msg: str) -> None:
    print(f"standins: {msg}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _lock(name: str):
    """Serialise builds of one stand-in across processes (tests and the lab)."""
    path = Path(tempfile.gettempdir()) / f"dws-standin-{name}.lock"
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _current(api: docker.APIClient, spec: StandIn) -> bool:
    try:
        labels = api.inspect_image(spec.tag)["Config"].get("Labels") or {}
    except docker.errors.ImageNotFound:
        return False
    return labels.get(HASH_LABEL) == spec.recipe_hash()


def _build(api: docker.APIClient, spec: StandIn) -> None:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"dws-standin-{spec.name}-") as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        version_file = Path(tmp) / "version"
        cmd = [
            "mmdebstrap",
            "--variant=minbase",
            "--quiet",
            "--include=" + ",".join(spec.packages),
            *(f"--dpkgopt={opt}" for opt in _DPKG_SLIM),
            # The customize script gets the chroot as $1 and writes the
            # server's version to $STANDIN_VERSION_FILE.
            f'--customize-hook={HERE / spec.name / "customize.sh"} "$1"',
            SUITE,
            str(rootfs),
        ]
        env = {
            **os.environ,
            "STANDIN_DIR": str(HERE / spec.name),
            "STANDIN_VERSION_FILE": str(version_file),
        }
        _log(f"building {spec.tag} with mmdebstrap ({', '.join(spec.packages)})")
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(
                f"mmdebstrap failed for {spec.name} (exit {proc.returncode}):\n"
                + (proc.stderr or proc.stdout)[-4000:]
            )
        version = version_file.read_text().strip()
        changes = [c.replace("{version}", version) for c in spec.changes]
        changes.append(f"LABEL {HASH_LABEL}={spec.recipe_hash()}")
        repo, tag = spec.tag.rsplit(":", 1)
        out = api.import_image(src=str(rootfs), repository=repo, tag=tag, changes=changes)
        # The engine answers with JSON lines; an error inside them is an error.
        for line in str(out).splitlines():
            with contextlib.suppress(ValueError):
                msg = json.loads(line)
                if isinstance(msg, dict) and msg.get("error"):
                    raise RuntimeError(f"docker import {spec.tag}: {msg['error']}")
    if not _current(api, spec):
        raise RuntimeError(f"docker import did not produce {spec.tag}")
    _log(f"{spec.tag} ready ({version}) in {time.monotonic() - started:.0f}s")


def ensure_base(name: str) -> str:
    """Make sure the stand-in base image NAME exists; return its tag.

    NAME is a key of STANDINS ("python", "nginx", "mysql", or one of
    MONITORING). Builds it (mmdebstrap + docker
    import) only when the tag is missing or its recipe changed.
    """
    if name not in STANDINS:
        raise KeyError(f"unknown stand-in {name!r}; known: {', '.join(STANDINS)}")
    spec = STANDINS[name]
    api = docker.APIClient(**_client_kwargs())
    try:
        if _current(api, spec):
            return spec.tag
        with _lock(name):
            if not _current(api, spec):  # another process may have built it meanwhile
                _build(api, spec)
        return spec.tag
    finally:
        api.close()


def ensure_all(names: tuple[str, ...] = BASES) -> dict[str, str]:
    """`ensure_base` for each name; returns {name: tag}."""
    return {name: ensure_base(name) for name in names}


def base_image_args(tags: dict[str, str]) -> list[str]:
    """build.py options that select these bases: ["--base-image", "python=...", ...]."""
    args: list[str] = []
    for name, tag in tags.items():
        args += ["--base-image", f"{name}={tag}"]
    return args


def _client_kwargs() -> dict:
    # DOCKER_HOST / DOCKER_TLS_VERIFY / DOCKER_CERT_PATH as the CLI reads them.
    # Importing a few hundred MB on a busy 2-core machine can exceed the
    # default 60 s timeout.
    return {**docker.utils.kwargs_from_env(), "timeout": 600, "version": "auto"}
