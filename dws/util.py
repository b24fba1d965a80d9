"""Small utilities and constants shared by every part of the toolkit.

One implementation each: waiting for a condition, free loopback ports,
running a command (run_command) and the docker CLI on it (docker), and the
errors every command exits with.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, TypeVar

# The toolkit works on a checkout: build.py, stack.yml and services/ live here.
REPO = Path(__file__).resolve().parents[1]
RECIPES = Path(__file__).resolve().parent / "recipes"
# The swarm lab's state: its nodes, the front load balancer, its CA.
LAB_DIR = REPO / "build" / "lab"
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


class StepFailed(DwsError):
    """A step of the tutorial or a replay did not show its outcome (the message
    carries the figures)."""

    status = 9


def require(condition: object, message: str) -> None:
    """StepFailed(message) unless ``condition``: a check of a run that, unlike
    `assert`, also holds under `python -O`."""
    if not condition:
        raise StepFailed(message)


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
    fatal: tuple[type[Exception], ...] = (),
) -> T:
    """Call ``probe`` until it returns something truthy and return that.

    An exception from ``probe`` means "not yet" (the last one is named in the
    timeout's message), except one of the ``fatal`` types, which ends the
    wait at once. With ``proc``, its exit ends the wait at once. Raises
    ``error`` with a one-line message on timeout or exit.
    """
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            result = probe()
            if result:
                return result
        except fatal:
            raise
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


def run_command(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    input: bytes | None = None,
    stdin: IO | int | None = None,
    stdout: IO | int | None = None,
    timeout: float | None = 300,
    check: bool = True,
    error: type[DwsError] = DwsError,
    what: str | None = None,
) -> subprocess.CompletedProcess:
    """Run a command; the completed process (stdout and stderr as bytes).

    stdout is captured unless ``stdout`` names a file or DEVNULL; stderr is
    always captured, for the message. ``stdin`` defaults to DEVNULL (unless
    ``input`` is given) so a command never reads the caller's terminal.
    ``error`` is raised with a one-line message naming ``what`` (default: the
    first words of ``args``) when the program is missing, runs out of
    ``timeout`` or, with ``check``, exits non-zero (its last stderr line).
    """
    what = what or " ".join(args[:3])
    if input is None and stdin is None:
        stdin = subprocess.DEVNULL
    try:
        proc = subprocess.run(
            list(args),
            env=None if env is None else dict(env),
            cwd=cwd,
            input=input,
            stdin=stdin if input is None else None,
            stdout=subprocess.PIPE if stdout is None else stdout,
            stderr=subprocess.PIPE,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise error(f"`{args[0]}` is not installed (run ./tests/setup.sh)") from exc
    except subprocess.TimeoutExpired as exc:
        raise error(f"`{what}` did not finish in {timeout:.0f} s") from exc
    if check and proc.returncode != 0:
        raise error(f"`{what}` failed: {last_line(proc.stderr, proc.returncode)}")
    return proc


def last_line(output: bytes | str | None, status: int) -> str:
    """The last non-empty line of a command's stderr, or its exit status."""
    if isinstance(output, bytes):
        output = output.decode(errors="replace")
    lines = (output or "").strip().splitlines()
    return lines[-1] if lines else f"exit status {status}"


def docker_env(host: str | None = None, **extra: str) -> dict[str, str]:
    """This process's environment for the docker CLI (and build.py) aimed at an engine.

    ``host`` None: the engine DOCKER_HOST (or the current context) names, as a
    user's shell would; "": the host's own engine whatever DOCKER_HOST says;
    otherwise that address (a lab's manager: tcp://...:2375).
    """
    env = dict(os.environ, **extra)
    if host is not None:
        env.pop("DOCKER_CONTEXT", None)
        env.pop("DOCKER_HOST", None)
        if host:
            env["DOCKER_HOST"] = host
    return env


def docker_process(
    *args: str,
    host: str | None = None,
    env: Mapping[str, str] | None = None,
    error: type[DwsError] = DockerError,
    **kwargs,
) -> subprocess.CompletedProcess:
    """`docker ARGS` through run_command (DockerError by default); the completed process.

    ``env`` replaces the environment ``host`` would give (see docker_env);
    the other keywords are run_command's.
    """
    return run_command(
        ["docker", *args],
        env=env if env is not None else docker_env(host),
        error=error,
        what=f"docker {' '.join(args[:3])}",
        **kwargs,
    )


def docker(
    *args: str,
    host: str | None = None,
    check: bool = True,
    timeout: float = 300,
    input: bytes | None = None,
    **kwargs,
) -> str:
    """Run the docker CLI and return its stdout (DockerError if it fails).

    ``host`` as in docker_env. The CLI rather than the SDK where a user would
    type the same command, and because some options (`--security-opt
    systempaths=unconfined`) exist only in the CLI. Other keywords (env, cwd,
    error) go to docker_process.
    """
    proc = docker_process(*args, host=host, check=check, timeout=timeout, input=input, **kwargs)
    return proc.stdout.decode(errors="replace")


def docker_stream(*args: str, host: str | None = None) -> subprocess.Popen:
    """`docker ARGS` left running (e.g. `docker events`): the process, its stdout
    a text stream of lines, stderr discarded. DockerError if the CLI is missing;
    the caller reads, then terminates and waits for it."""
    try:
        return subprocess.Popen(
            ["docker", *args],
            env=docker_env(host),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            text=True,
        )
    except OSError as exc:
        raise DockerError(f"`docker {' '.join(args[:3])}` could not start: {exc}") from exc
