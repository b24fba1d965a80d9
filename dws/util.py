"""Small utilities and constants shared by every part of the toolkit.

One implementation each: waiting for a condition, free loopback ports, and
running the docker CLI.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

# The toolkit works on a checkout: build.py, stack.yml and services/ live here.
REPO = Path(__file__).resolve().parents[1]
RECIPES = Path(__file__).resolve().parent / "recipes"
SEED_SQL = REPO / "services" / "mysql" / "citydb.sql"
# The seeded demo account (its hash is in the seed SQL, not this password).
DEMO_USER = ("test1", "12345678")

T = TypeVar("T")


class DwsError(Exception):
    """A failure meant for the user: one line, and the exit status of `dws`."""

    status = 1


class UsageError(DwsError):
    """A value given on the command line cannot be used."""

    status = 2


class DockerError(DwsError):
    """The docker CLI is missing, failed or hung."""

    status = 3


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on host:port."""
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) == 0


def wait_until(
    what: str,
    probe: Callable[[], T],
    timeout: float,
    interval: float = 0.5,
    *,
    proc: subprocess.Popen | None = None,
    error: type[Exception] = TimeoutError,
) -> T:
    """Call ``probe`` until it returns something truthy and return that.

    An exception from ``probe`` means "not yet" (the last one is named in the
    timeout's message). With ``proc``, its exit ends the wait at once. Raises
    ``error`` with a one-line message on timeout or exit.
    """
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            result = probe()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
            last = exc
        if proc is not None and proc.poll() is not None:
            raise error(f"{what}: the process exited with status {proc.returncode}")
        if time.monotonic() >= deadline:
            raise error(
                f"timed out after {timeout:.0f} s waiting for {what}"
                + (f" (last error: {last})" if last else "")
            )
        time.sleep(interval)


def docker(
    *args: str,
    host: str | None = None,
    check: bool = True,
    timeout: float = 300,
    input: bytes | None = None,
) -> str:
    """Run the docker CLI and return its stdout.

    ``host`` None: the engine DOCKER_HOST (or the current context) names, as a
    user's shell would; "": the host's own engine whatever DOCKER_HOST
    says; otherwise that address. The CLI rather than the SDK where a user would type the same
    command, and because some options (`--security-opt systempaths=unconfined`)
    exist only in the CLI.
    """
    env = dict(os.environ)
    if host is not None:
        env.pop("DOCKER_CONTEXT", None)
        env.pop("DOCKER_HOST", None)
        if host:
            env["DOCKER_HOST"] = host
    try:
        proc = subprocess.run(
            ["docker", *args],
            capture_output=True,
            env=env,
            timeout=timeout,
            input=input,
            check=False,
        )
    except FileNotFoundError as exc:
        raise DockerError("the docker CLI is not installed (run ./tests/setup.sh)") from exc
    except subprocess.TimeoutExpired as exc:
        what = " ".join(args[:3])
        raise DockerError(f"`docker {what}` did not finish in {timeout:.0f} s") from exc
    if check and proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        raise DockerError(
            f"`docker {' '.join(args[:3])}` failed: {err[-1] if err else proc.returncode}"
        )
    return proc.stdout.decode(errors="replace")
