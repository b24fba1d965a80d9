#!/usr/bin/env python3
"""Build, tag and push the images of the dws stack, as the tutorial does.

Builds three images with the Docker engine that DOCKER_HOST names (the local
one by default) and, with --push, pushes them to a private registry:

  <registry>/<namespace>/mysql:<server version>-dws    services/mysql
  <registry>/<namespace>/nginx:<server version>-dws    services/nginx
  <registry>/<namespace>/bootservice:<version>-dws     services/bootservice,
                                                       once per --versions entry
  <registry>/<namespace>/bootservice:2.1-broken-dws    starts, serves, and fails
                                                       its healthcheck (for the
                                                       automatic-rollback step)

The server version of mysql and nginx is the major.minor of the base image's
MYSQL_VERSION / MARIADB_VERSION / NGINX_VERSION (e.g. 8.4, 1.27). The
bootservice build is hermetic: the wheels of services/bootservice/
requirements.lock are downloaded here, on the host that runs build.py, into build/wheels for
the image's Python and the engine's CPU, and the image installs only those;
every build runs with networking off.

Progress goes to stdout, one line per event; a summary table follows, and the
same data is written to build/images.json. Errors are one line on stderr and
a non-zero exit status:

  2  bad argument or unknown image name      5  a build step failed
  3  Docker engine not reachable             6  registry unreachable
  4  a base image is missing                 7  push refused (authentication)
  8  the wheels could not be downloaded      1  anything else
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parent
SERVICES = ROOT / "services"
LOCK_FILE = SERVICES / "bootservice" / "requirements.lock"
WHEELS_DIR = ROOT / "build" / "wheels"
REPORT_FILE = ROOT / "build" / "images.json"

IMAGES = ("mysql", "nginx", "bootservice")
BASES = {  # --base-image NAME -> (image it is the base of, Dockerfile ARG)
    "python": ("bootservice", "PYTHON_IMAGE"),
    "nginx": ("nginx", "NGINX_IMAGE"),
    "mysql": ("mysql", "MYSQL_IMAGE"),
}
BROKEN_VERSION = "2.1"
# The glibc of the Python base (Debian 12); wheels for older manylinux tags run
# on it too. Newer bases (Debian 13) are compatible with these wheels as well.
GLIBC_MINOR = 36

EXIT_ERROR, EXIT_USAGE, EXIT_ENGINE, EXIT_BASE = 1, 2, 3, 4
EXIT_BUILD, EXIT_REGISTRY, EXIT_REFUSED, EXIT_WHEELS = 5, 6, 7, 8

EPILOG = """\
examples:
  python build.py                         build everything, tags for tcr:5000/myhub
  python build.py --push                  ... and push (docker login first if needed)
  python build.py --only bootservice --versions 2.0
  DOCKER_HOST=tcp://manager:2375 python build.py --push --registry tcr:5000 \\
      --base-image python=python:3.11.14-slim-bookworm

The engine (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) and the registry
credentials (docker login, i.e. $DOCKER_CONFIG/config.json) are the docker
CLI's. The registry is reached by the engine, not by this script; a registry
served over plain HTTP must be in the engine's insecure-registries (127.0.0.0/8
always is). Push progress is printed at most every 2 s per layer.

Builds run with networking off (hermetic); the wheels are downloaded by this
script with pip into build/wheels (skipped when all are there already). OCI
labels: version = APP_VERSION, revision = git HEAD (+"-dirty"), created = now
(UTC), source = `git remote get-url origin` or $DWS_SOURCE_URL. A summary of
the run is written to build/images.json.

exit status (errors are one line on stderr, starting "build.py: error:"):
  0  success
  1  unexpected error
  2  bad argument or unknown image name
  3  Docker engine not reachable
  4  base image missing (not in the engine and not pullable)
  5  a build step failed (its output is printed above the error line)
  6  registry unreachable (or the push failed for another reason)
  7  push refused: authentication or authorization
  8  the wheels of requirements.lock could not be downloaded
"""


class BuildError(Exception):
    """A failure with its one-line message and exit status."""

    def __init__(self, message: str, code: int, details: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.details = details


@dataclass
class Target:
    """One image to build: which Dockerfile, with which arguments, as which tag."""

    name: str  # mysql, nginx, bootservice
    tag: str  # full reference: registry/namespace/name:tag
    context: Path
    dockerfile: str
    buildargs: dict[str, str]
    target: str | None = None
    image_id: str = ""
    size: int = 0
    digest: str = ""
    pushed: bool = False
    seconds: float = 0.0

    @property
    def repository(self) -> str:
        """The tag without its `:tag` part."""
        return self.tag.rsplit(":", 1)[0]

    @property
    def short_tag(self) -> str:
        """The part after the last colon, e.g. `1.0-dws`."""
        return self.tag.rsplit(":", 1)[1]


# ---------------------------------------------------------------- arguments


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line instead of argparse's usage block, like every other error.
        self.exit(EXIT_USAGE, f"build.py: error: {message} (see --help)\n")


def _csv(value: str) -> list[str]:
    parts = [part.strip() for part in value.split(",")]
    if not any(parts):
        raise argparse.ArgumentTypeError("needs at least one item")
    if not all(parts):
        raise argparse.ArgumentTypeError(f"{value!r} has an empty item")
    if len(set(parts)) != len(parts):
        raise argparse.ArgumentTypeError(f"{value!r} names an item twice")
    return parts


def _image_names(value: str) -> list[str]:
    names = _csv(value)
    unknown = [n for n in names if n not in IMAGES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown image name {', '.join(map(repr, unknown))}; known: {', '.join(IMAGES)}"
        )
    return [n for n in IMAGES if n in names]  # build order: mysql, nginx, bootservice


def _versions(value: str) -> list[str]:
    versions = _csv(value)
    for v in versions:
        if not re.fullmatch(r"\d+(\.\d+){0,2}", v):
            raise argparse.ArgumentTypeError(f"{v!r} is not a version like 1.0 or 2.0.1")
    return versions


_HOST_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"


def _registry(value: str) -> str:
    host, sep, port = value.partition(":")
    if not re.fullmatch(rf"{_HOST_LABEL}(\.{_HOST_LABEL})*", host) or (sep and not port.isdigit()):
        raise argparse.ArgumentTypeError(f"{value!r} is not HOST or HOST:PORT")
    if sep and not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r}: the port must be 1 to 65535")
    return value


def _namespace(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*", value):
        raise argparse.ArgumentTypeError(
            f"{value!r} must be lowercase letters and digits, parts joined by . _ - or /"
        )
    return value


def _base_image(item: str) -> tuple[str, str]:
    name, sep, image = item.partition("=")
    if not sep or not image:
        raise argparse.ArgumentTypeError(f"expected NAME=IMAGE, got {item!r}")
    if name not in BASES:
        raise argparse.ArgumentTypeError(f"unknown base {name!r}; known: {', '.join(BASES)}")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/:@-]*", image):
        raise argparse.ArgumentTypeError(f"{image!r} is not an image reference")
    return name, image


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse and validate the command line; exits 2 with one line on error."""
    p = _Parser(
        prog="build.py",
        description=__doc__.split("\n\n", 1)[0],
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--push",
        action="store_true",
        help="push every tag built to the registry (default: build and tag only)",
    )
    p.add_argument(
        "--registry",
        type=_registry,
        default="tcr:5000",
        metavar="HOST[:PORT]",
        help="registry part of the tags, and where --push sends them (default: tcr:5000)",
    )
    p.add_argument(
        "--namespace",
        type=_namespace,
        default="myhub",
        help="path between registry and image name (default: myhub)",
    )
    p.add_argument(
        "--only",
        type=_image_names,
        default=list(IMAGES),
        metavar="NAME,...",
        help=f"build only these images, of: {', '.join(IMAGES)} (default: all)",
    )
    p.add_argument(
        "--versions",
        type=_versions,
        default=["1.0", "2.0"],
        metavar="V,...",
        help="bootservice versions to build, each tagged <V>-dws with APP_VERSION=V "
        f"(default: 1.0,2.0); the broken {BROKEN_VERSION}-broken-dws is always built too",
    )
    p.add_argument(
        "--base-image",
        type=_base_image,
        action="append",
        default=[],
        metavar="NAME=IMAGE",
        help="base image to build on instead of the Dockerfile's pinned default, for "
        "NAME in python, nginx, mysql (e.g. a mirror, or the test stand-ins); "
        "repeat for each. It must be in the engine or pullable by it",
    )
    args = p.parse_args(argv)
    args.bases = dict(args.base_image)
    if len(args.bases) != len(args.base_image):
        p.error("--base-image: a base is named twice")
    return args


# --------------------------------------------------------------- the engine


def out(line: str) -> None:
    """One progress line on stdout, flushed so that nothing waits silently."""
    print(line, flush=True)


def connect():
    """A low-level client for DOCKER_HOST; BuildError(3) when unreachable."""
    import docker
    import docker.errors

    kwargs = docker.utils.kwargs_from_env()
    where = kwargs.get("base_url") or "unix:///var/run/docker.sock"
    try:
        # version="auto" asks the engine for its API version: the reachability
        # check, with a short timeout so that a dead TCP host fails quickly.
        api = docker.APIClient(**kwargs, version="auto", timeout=15)
    except docker.errors.DockerException as exc:
        raise BuildError(
            f"Docker engine not reachable at {where}: {_reason(exc)} "
            "(is dockerd running? DOCKER_HOST selects another engine)",
            EXIT_ENGINE,
        ) from None
    # Builds can be silent for minutes (a long RUN step); don't abort them.
    api.timeout = 3600
    return api, where


def _reason(exc: BaseException) -> str:
    """The innermost useful part of a docker/requests error, on one line."""
    text = str(getattr(exc, "explanation", None) or exc)
    patterns = (
        r"\[Errno -?\d+\] ([^'\")]+)",
        r"Error\(-?\d+, '([^']+)'\)",
        r"Errno \d+, '([^']+)'",
        r"\(\d+\): (.+)$",
    )
    for pattern in patterns:
        m = re.search(pattern, text)
        if m:
            return m.group(1).strip()
    return " ".join(text.split())[:300]


def base_defaults() -> dict[str, str]:
    """The pinned default base of each Dockerfile (its `ARG X_IMAGE=...`)."""
    result = {}
    for base, (image, arg) in BASES.items():
        text = (SERVICES / image / "Dockerfile").read_text(encoding="utf-8")
        m = re.search(rf"^ARG {arg}=(\S+)", text, re.MULTILINE)
        if not m:
            raise BuildError(f"services/{image}/Dockerfile has no 'ARG {arg}=...'", EXIT_ERROR)
        result[base] = m.group(1)
    return result


def ensure_base(api, image: str, used_for: str) -> dict:
    """Inspect IMAGE in the engine, pulling it if absent; BuildError(4) if impossible."""
    import docker.errors

    try:
        return api.inspect_image(image)
    except docker.errors.ImageNotFound:
        pass
    out(f"[base] {image} is not in the engine; pulling it")
    repo, tag = _split_ref(image)
    try:
        for event in api.pull(repo, tag=tag, stream=True, decode=True):
            if "error" in event:
                raise BuildError(
                    f"base image {image} (for {used_for}) is missing and could not be pulled: "
                    f"{_one_line(event['error'])}",
                    EXIT_BASE,
                )
            out(_format_progress("[base]", event))
        return api.inspect_image(image)
    except docker.errors.APIError as exc:
        raise BuildError(
            f"base image {image} (for {used_for}) is missing and could not be pulled: "
            f"{_reason(exc)}",
            EXIT_BASE,
        ) from None


def _split_ref(image: str) -> tuple[str, str | None]:
    if "@" in image:
        return image, None
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = image.rsplit(":", 1)
        return repo, tag
    return image, "latest"


def _env(inspect: dict) -> dict[str, str]:
    env = {}
    for item in (inspect.get("Config") or {}).get("Env") or []:
        k, _, v = item.partition("=")
        env[k] = v
    return env


def _major_minor(version: str) -> str | None:
    m = re.search(r"(?:^|:)(\d+)\.(\d+)", version)
    return f"{m.group(1)}.{m.group(2)}" if m else None


def server_version(api, image: str, inspect: dict, kind: str) -> str:
    """major.minor of the server in a mysql or nginx base image."""
    env = _env(inspect)
    keys = ("MYSQL_VERSION", "MARIADB_VERSION") if kind == "mysql" else ("NGINX_VERSION",)
    for key in keys:
        if key in env and (mm := _major_minor(env[key])):
            return mm
    # A base without the official variables (a mirror's rebuild): ask the binary.
    cmd = ["mysqld", "--version"] if kind == "mysql" else ["nginx", "-v"]
    out(f"[{kind}] no version variable in {image}; running {' '.join(cmd)}")
    container = api.create_container(image, command=cmd, entrypoint=[], network_disabled=True)
    try:
        api.start(container)
        api.wait(container, timeout=60)
        text = api.logs(container, stdout=True, stderr=True).decode(errors="replace")
    finally:
        api.remove_container(container, force=True)
    m = re.search(r"(?:Ver |nginx/)(\d+\.\d+)", text)
    if not m:
        raise BuildError(f"cannot tell the {kind} version of {image}: {_one_line(text)}", EXIT_BASE)
    return m.group(1)


# ------------------------------------------------------------------- wheels


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def parse_lock(text: str) -> dict[str, str]:
    """{normalised name: version} of a pip-compile lock (pins with --hash options).

    Every requirement must be an exact pin with at least one sha256 hash: the
    image installs the lock with --require-hashes.
    """
    pins = {}
    logical = re.sub(r"\\\n", " ", text)  # join backslash continuations
    for raw in logical.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        pin, *options = line.split()
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;]+)", pin)
        if not m:
            raise BuildError(f"{LOCK_FILE.name}: not an exact pin: {pin!r}", EXIT_ERROR)
        hashes = [o for o in options if re.fullmatch(r"--hash=sha256:[0-9a-f]{64}", o)]
        if not hashes or len(hashes) != len(options):
            raise BuildError(
                f"{LOCK_FILE.name}: {pin} needs --hash=sha256:... options and nothing else",
                EXIT_ERROR,
            )
        pins[_norm(m.group(1))] = m.group(3)
    return pins


def read_lock() -> dict[str, str]:
    """{normalised name: version} from requirements.lock."""
    return parse_lock(LOCK_FILE.read_text(encoding="utf-8"))


def wheel_platforms(arch: str) -> list[str]:
    """manylinux tags whose wheels run on the image (glibc 2.36, ARCH)."""
    tags = [f"manylinux_2_{n}_{arch}" for n in range(GLIBC_MINOR, 16, -1)]
    return [*tags, f"manylinux2014_{arch}", f"manylinux2010_{arch}", f"manylinux1_{arch}"]


def _wheel_fits(filename: str, pins: dict[str, str], py: str, platforms: set[str]) -> str | None:
    """The pin a wheel file satisfies for this image, else None."""
    parts = filename[:-4].split("-")
    if not filename.endswith(".whl") or len(parts) not in (5, 6):
        return None
    name, version, pytag, abitag, plat = parts[0], parts[1], parts[-3], parts[-2], parts[-1]
    if pins.get(_norm(name)) != version:
        return None
    cp = "cp" + py.replace(".", "")
    if not any(t in ("py3", cp) or t.startswith("py3") for t in pytag.split(".")):
        return None
    if not any(t in ("none", "abi3", cp) for t in abitag.split(".")):
        return None
    if not any(t == "any" or t in platforms for t in plat.split(".")):
        return None
    return _norm(name)


def prepare_wheels(py: str, arch: str) -> None:
    """Fill build/wheels with exactly the locked wheels for Python PY on ARCH."""
    pins = read_lock()
    platforms = wheel_platforms(arch)
    WHEELS_DIR.mkdir(parents=True, exist_ok=True)

    def scan() -> set[str]:
        have = set()
        for f in WHEELS_DIR.iterdir():
            fit = _wheel_fits(f.name, pins, py, set(platforms))
            if fit:
                have.add(fit)
            else:
                # Stale (an old pin, another CPU): it would only change the
                # build context and so invalidate the dependency layer.
                f.unlink() if f.is_file() else shutil.rmtree(f)
        return have

    if scan() == set(pins):
        out(f"[wheels] all {len(pins)} locked wheels present for cp{py} {arch}; no download")
        return
    out(f"[wheels] downloading {len(pins)} locked wheels for cp{py} manylinux {arch}")
    cmd = [
        sys.executable, "-m", "pip", "download",
        "--disable-pip-version-check", "--no-deps", "--only-binary=:all:",
        "--implementation", "cp", "--python-version", py, "--abi", "cp" + py.replace(".", ""),
        *(arg for tag in platforms for arg in ("--platform", tag)),
        "--dest", str(WHEELS_DIR), "--requirement", str(LOCK_FILE),
    ]  # fmt: skip
    tail: list[str] = []
    try:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
    except OSError as exc:
        raise BuildError(f"cannot run pip: {exc}", EXIT_WHEELS) from None
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip()
        if line:
            out(f"[wheels] {line}")
            tail = (tail + [line])[-20:]
    if proc.wait() != 0:
        last = next((x for x in reversed(tail) if x.startswith("ERROR")), tail[-1] if tail else "")
        raise BuildError(
            f"could not download the wheels of {LOCK_FILE.name}: {last}",
            EXIT_WHEELS,
            "\n".join(tail),
        )
    missing = set(pins) - scan()
    if missing:
        raise BuildError(
            f"pip did not provide wheels for {', '.join(sorted(missing))} (cp{py}, {arch})",
            EXIT_WHEELS,
        )


# ------------------------------------------------------------------- builds


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _format_progress(prefix: str, event: dict) -> str:
    parts = [event.get("id", ""), event.get("status", ""), event.get("progress", "")]
    return f"{prefix} " + " ".join(p for p in parts if p)


def build(api, t: Target) -> None:
    """Build one target, printing each event; BuildError(5) on a failed step."""
    label = f"[{t.name}:{t.short_tag}]"
    out(f"{label} building {t.tag}")
    started = time.monotonic()
    step = ""
    step_output: list[str] = []
    pending = ""
    image_id = ""
    kwargs = dict(
        path=str(t.context),
        dockerfile=t.dockerfile,
        tag=t.tag,
        buildargs=t.buildargs,
        target=t.target,
        rm=True,
        forcerm=True,
        decode=True,
        # Hermetic: no RUN step may reach the network. Everything the images
        # need is in the context (the wheels) or in the base image.
        network_mode="none",
    )
    import docker.errors

    try:
        for event in api.build(**kwargs):
            if "error" in event or "errorDetail" in event:
                message = (event.get("errorDetail") or {}).get("message") or event.get("error")
                if pending.strip():
                    step_output.append(pending.rstrip())
                raise BuildError(
                    f"build of {t.tag} failed at {step or 'the start'!r}: {_one_line(message)}",
                    EXIT_BUILD,
                    "\n".join(step_output[-60:]),
                )
            if "stream" in event:
                # Chunks may end mid-line (a RUN step's stdout and stderr
                # interleave): print whole lines only. The engine colours
                # stderr; keep the log plain.
                pending += _ANSI.sub("", event["stream"])
                *lines, pending = pending.split("\n")
                for line in lines:
                    if not line.strip():
                        continue
                    out(f"{label} {line.rstrip()}")
                    if line.startswith("Step "):
                        step = line.split(" : ", 1)[-1].strip()
                        step_output = []
                    else:
                        step_output.append(line.rstrip())
            elif "aux" in event and "ID" in event["aux"]:
                image_id = event["aux"]["ID"]
            elif "status" in event:
                out(_format_progress(label, event))
    except docker.errors.APIError as exc:
        raise BuildError(f"build of {t.tag} failed: {_reason(exc)}", EXIT_BUILD) from None
    info = api.inspect_image(t.tag)
    if image_id and info["Id"] != image_id:
        raise BuildError(f"build of {t.tag} did not tag the image it built", EXIT_BUILD)
    t.image_id, t.size = info["Id"], info["Size"]
    t.seconds = time.monotonic() - started
    out(f"{label} built {t.tag} ({t.size / 1e6:.1f} MB, {t.seconds:.1f} s)")


_REFUSED = re.compile(
    r"unauthorized|authentication required|no basic auth credentials|denied|"
    r"insufficient_scope|forbidden|\b401\b|\b403\b",
    re.IGNORECASE,
)
_UNREACHABLE = re.compile(
    r"connection refused|no such host|i/o timeout|dial tcp|network is unreachable|"
    r"no route to host|deadline exceeded|connection reset|EOF|tls|http response to https client",
    re.IGNORECASE,
)


def push(api, t: Target, registry: str) -> None:
    """Push one tag, printing progress; BuildError(6/7) for registry problems."""
    label = f"[push {t.name}:{t.short_tag}]"
    out(f"{label} pushing {t.tag}")
    last_progress: dict[str, float] = {}
    import docker.errors

    try:
        events = api.push(t.repository, tag=t.short_tag, stream=True, decode=True)
        for event in events:
            if "error" in event or "errorDetail" in event:
                message = _one_line(
                    (event.get("errorDetail") or {}).get("message") or event.get("error")
                )
                raise _push_error(t, registry, message)
            aux = event.get("aux") or {}
            if aux.get("Digest"):
                t.digest = aux["Digest"]
            status = event.get("status", "")
            if status == "Pushing" and event.get("id"):
                # Byte-level progress arrives many times a second; one line
                # per layer every 2 s keeps the output readable but alive.
                now = time.monotonic()
                if now - last_progress.get(event["id"], 0.0) < 2.0:
                    continue
                last_progress[event["id"]] = now
            if status or aux:
                out(_format_progress(label, event) if status else f"{label} {json.dumps(aux)}")
    except docker.errors.APIError as exc:
        raise _push_error(t, registry, _reason(exc)) from None
    if not t.digest:
        raise BuildError(f"push of {t.tag} ended without a digest", EXIT_REGISTRY)
    t.pushed = True
    out(f"{label} pushed {t.tag}@{t.digest}")


def _push_error(t: Target, registry: str, message: str) -> BuildError:
    if "http response to https client" in message.lower():
        return BuildError(
            f"registry {registry} unreachable for {t.tag}: it speaks plain HTTP and the engine "
            f"expects HTTPS; add {registry} to the engine's insecure-registries ({message})",
            EXIT_REGISTRY,
        )
    if _REFUSED.search(message):
        return BuildError(
            f"push of {t.tag} refused by registry {registry}: {message} "
            f"(log in with: docker login {registry})",
            EXIT_REFUSED,
        )
    if _UNREACHABLE.search(message):
        return BuildError(
            f"registry {registry} unreachable from the engine while pushing {t.tag}: {message}",
            EXIT_REGISTRY,
        )
    return BuildError(f"push of {t.tag} to {registry} failed: {message}", EXIT_REGISTRY)


# ------------------------------------------------------------------ the run


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def vcs_labels() -> dict[str, str]:
    """Build args for the OCI labels: revision, created, source."""
    revision = _git("rev-parse", "HEAD") or "unknown"
    if revision != "unknown" and _git("status", "--porcelain", "--untracked-files=no"):
        revision += "-dirty"
    source = os.environ.get("DWS_SOURCE_URL") or _git("remote", "get-url", "origin")
    return {
        "VCS_REF": revision,
        "BUILD_DATE": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "SOURCE_URL": source or ROOT.as_uri(),
    }


def plan(args: argparse.Namespace, api) -> list[Target]:
    """Check the bases and list what to build, in order."""
    defaults = base_defaults()
    prefix = f"{args.registry}/{args.namespace}"
    targets: list[Target] = []
    for name in args.only:
        base_key = next(k for k, (image, _) in BASES.items() if image == name)
        base = args.bases.get(base_key, defaults[base_key])
        arg = BASES[base_key][1]
        info = ensure_base(api, base, name)
        out(f"[{name}] base {base} ({info['Id'][:19]})")
        if name in ("mysql", "nginx"):
            version = server_version(api, base, info, name)
            targets.append(
                Target(
                    name=name,
                    tag=f"{prefix}/{name}:{version}-dws",
                    context=SERVICES / name,
                    dockerfile="Dockerfile",
                    buildargs={arg: base},
                )
            )
            continue
        env = _env(info)
        py = _major_minor(env.get("PYTHON_VERSION", "")) or "3.11"
        arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(
            info.get("Architecture", ""), info.get("Architecture", "x86_64")
        )
        prepare_wheels(py, arch)
        common = {arg: base, **vcs_labels()}
        for version in args.versions:
            targets.append(
                Target(
                    name=name,
                    tag=f"{prefix}/{name}:{version}-dws",
                    context=ROOT,
                    dockerfile="services/bootservice/Dockerfile",
                    buildargs={**common, "APP_VERSION": version},
                    target="release",
                )
            )
        targets.append(
            Target(
                name=name,
                tag=f"{prefix}/{name}:{BROKEN_VERSION}-broken-dws",
                context=ROOT,
                dockerfile="services/bootservice/Dockerfile",
                buildargs={**common, "APP_VERSION": BROKEN_VERSION},
                target="broken",
            )
        )
    return targets


def stack_variables(targets: list[Target], registry: str, namespace: str) -> dict[str, str]:
    """The variables stack.yml reads, for the tags of ``targets``.

    REGISTRY and NAMESPACE always; MYSQL_VERSION and NGINX_VERSION from the
    version part of the `<version>-dws` tag built for each (when built).
    """
    variables = {"REGISTRY": registry, "NAMESPACE": namespace}
    for t in targets:
        if t.name in ("mysql", "nginx"):
            variables[f"{t.name.upper()}_VERSION"] = t.short_tag.removesuffix("-dws")
    return variables


def export_line(variables: dict[str, str]) -> str:
    """A shell line that sets ``variables`` (values quoted for the shell)."""
    return "export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in variables.items())


def summary(targets: list[Target], variables: dict[str, str]) -> None:
    """Print the table and the stack's variables; write build/images.json."""
    rows = [("IMAGE", "TAG", "SIZE", "DIGEST", "PUSHED")]
    for t in targets:
        digest = t.digest or f"(id {t.image_id[7:19]})"
        size = f"{t.size / 1e6:.1f} MB"
        rows.append((t.repository, t.short_tag, size, digest, "yes" if t.pushed else "no"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out("")
    for r in rows:
        out("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    out("")
    out("stack.yml reads these variables for the tags above; before `docker stack deploy`:")
    out(f"  {export_line(variables)}")
    REPORT_FILE.parent.mkdir(parents=True, exist_ok=True)
    REPORT_FILE.write_text(
        json.dumps(
            {
                "images": [
                    {
                        "name": t.name,
                        "tag": t.tag,
                        "id": t.image_id,
                        "size": t.size,
                        "digest": t.digest or None,
                        "pushed": t.pushed,
                        "seconds": round(t.seconds, 1),
                    }
                    for t in targets
                ],
                "stack_variables": variables,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )


def run(argv: list[str]) -> int:
    """The whole command; returns the exit status."""
    args = parse_args(argv)
    started = time.monotonic()
    api, where = connect()
    try:
        out(f"[engine] {where}: Docker {api.version().get('Version', '?')}")
        targets = plan(args, api)
        for t in targets:
            build(api, t)
        if args.push:
            for t in targets:
                push(api, t, args.registry)
        summary(targets, stack_variables(targets, args.registry, args.namespace))
        out(f"done in {time.monotonic() - started:.0f} s")
        return 0
    finally:
        api.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs and turns failures into one line and an exit status."""
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except BuildError as exc:
        if exc.details:
            print(f"--- output of the failing step ---\n{exc.details}\n---", file=sys.stderr)
        print(f"build.py: error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("build.py: error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, not a trace
        print(f"build.py: error: unexpected {type(exc).__name__}: {_reason(exc)}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
