"""`dws watch`: a live view of the lab while the swarm changes.

Refreshed every second: the nodes with their availability and their tasks
(service, version, state), and the traffic this command sends through the
front load balancer: requests per second by replica and by version, and the
failures. The tutorial's own way is `watch -n1 docker service ps`; this also
shows who answers. q or Ctrl-C leaves.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import sys
import termios
import threading
import time
import tty
from collections import Counter, deque
from dataclasses import dataclass, field

import requests
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from dws import deploy, lab_tls, tls
from dws import lab as lablib

WINDOW = 5.0  # seconds of traffic the rates are computed over


@dataclass
class Traffic:
    """GET /countries through the front at a steady rate, in a thread."""

    url: str
    rate: float
    verify: str | bool = True  # the CA bundle that signed the front's certificate
    records: deque = field(default_factory=lambda: deque(maxlen=20000))
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with tls.client_session(self.verify) as s:
            next_at = time.monotonic()
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    resp = s.get(f"{self.url}/countries", timeout=5)
                    ok = resp.status_code == 200
                    self.records.append(
                        (
                            started,
                            ok,
                            resp.headers.get("X-Served-By") if ok else None,
                            resp.headers.get("X-App-Version") if ok else None,
                            resp.status_code,
                        )
                    )
                except requests.RequestException as exc:
                    self.records.append((started, False, None, None, type(exc).__name__))
                next_at += 1 / self.rate
                self.stop.wait(max(0.0, next_at - time.monotonic()))

    def window(self) -> list[tuple]:
        """The records of the last WINDOW seconds."""
        since = time.monotonic() - WINDOW
        return [r for r in list(self.records) if r[0] >= since]


def version_of(image: str) -> str:
    """`tcr:5000/myhub/bootservice:2.0-dws@sha256:...` -> `2.0`."""
    tag = image.split("@", 1)[0].rsplit("/", 1)[-1].partition(":")[2]
    return tag.removesuffix("-dws") or "?"


def swarm_state(lab: lablib.Lab) -> tuple[list[dict], list[dict]]:
    """(nodes, running tasks of the stack's services) from the manager."""
    nodes = [
        json.loads(line)
        for line in lab.docker("node", "ls", "--format", "{{json .}}", timeout=20).splitlines()
        if line.strip()
    ]
    out = lab.docker(
        "service",
        "ps",
        deploy.BOOT,
        deploy.NGINX,
        deploy.MYSQL,
        "--filter",
        "desired-state=running",
        "--format",
        "{{json .}}",
        check=False,
        timeout=20,
    )
    tasks = [json.loads(line) for line in out.splitlines() if line.strip()]
    return nodes, tasks


def render(nodes: list[dict], tasks: list[dict], traffic: list[tuple], error: str = "") -> Group:
    """The screen: one table of nodes and tasks, one of who answers."""
    by_node: dict[str, list[str]] = {}
    for t in tasks:
        service = t["Name"].split(".")[0].removeprefix(f"{deploy.STACK}_")
        state = t["CurrentState"].split(" ")[0]
        by_node.setdefault(t["Node"], []).append(f"{service} {version_of(t['Image'])} {state}")
    nodes_table = Table(title="nodes", expand=True)
    for col in ("node", "status", "availability", "tasks (service version state)"):
        nodes_table.add_column(col)
    for n in sorted(nodes, key=lambda n: n["Hostname"]):
        nodes_table.add_row(
            n["Hostname"] + (" *" if n.get("ManagerStatus") == "Leader" else ""),
            n["Status"],
            n["Availability"],
            "\n".join(sorted(by_node.get(n["Hostname"], []))) or "-",
        )
    answered = [r for r in traffic if r[1]]
    failed = [r for r in traffic if not r[1]]
    span = WINDOW
    traffic_table = Table(title=f"traffic through the front, last {WINDOW:.0f} s", expand=True)
    for col in ("answered by", "version", "req/s"):
        traffic_table.add_column(col)
    for (replica, version), n in sorted(Counter((r[2], r[3]) for r in answered).items()):
        traffic_table.add_row(str(replica), str(version), f"{n / span:.1f}")
    versions = Counter(r[3] for r in answered)
    summary = Text(
        "versions: "
        + (", ".join(f"{v} {n / span:.1f}/s" for v, n in sorted(versions.items())) or "none")
        + f"   failures: {len(failed)}"
        + (f" ({Counter(str(r[4]) for r in failed).most_common(1)[0][0]})" if failed else "")
        + "   (q or Ctrl-C to leave)"
    )
    parts = [nodes_table, traffic_table, summary]
    if error:
        parts.append(Text(f"swarm: {error}", style="red"))
    return Group(*parts)


@contextlib.contextmanager
def keys():
    """Single key presses from a terminal (cbreak mode), restored on exit."""
    if not sys.stdin.isatty():
        yield lambda: None
        return
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)

    def read():
        ready, _, _ = select.select([fd], [], [], 0)
        return os.read(fd, 1).decode(errors="replace") if ready else None

    try:
        yield read
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def run(lab: lablib.Lab, interval: float = 1.0, rate: float = 10.0, url: str | None = None) -> None:
    """Show the view until q or Ctrl-C."""
    lab.docker("node", "ls", "-q", timeout=20)  # fails early, with one line, if the lab is gone
    traffic = Traffic(url or lab.lb_url, rate, verify=str(lab_tls.CA_CERT))
    thread = threading.Thread(target=traffic.run, name="watch-traffic", daemon=True)
    thread.start()
    try:
        with keys() as key, Live(auto_refresh=False, redirect_stdout=False) as live:
            while True:
                error = ""
                try:
                    nodes, tasks = swarm_state(lab)
                except lablib.LabError as exc:
                    nodes, tasks, error = [], [], str(exc)
                live.update(render(nodes, tasks, traffic.window(), error), refresh=True)
                deadline = time.monotonic() + interval
                while time.monotonic() < deadline:
                    if key() in ("q", "Q"):
                        return
                    time.sleep(0.05)
    except KeyboardInterrupt:
        return
    finally:
        traffic.stop.set()
        thread.join(timeout=10)
