"""Where the swarm's time goes: per replay step and per bootservice task.

Every lab node is a Docker engine of its own; `EventLog` follows each node's
`docker events` for the swarm's containers for the whole replay. From those
events (container start, every healthcheck probe, `health_status`, `die`)
and the "worker ready" line gunicorn's workers log once the application is
loaded, `breakdown` computes, for a step whose command ran at a known wall
time: how long until the first new container started, until the first and
the last new task turned healthy (the moment Swarm reports the task Running:
its agent waits for the healthcheck), and until the first and the last old
container stopped; and for each new task, container start to its first
worker answering, to its first probe, and to healthy (or unhealthy).

Everything below `EventLog` is pure: unit-tested on made-up events. The
nodes and the host share one kernel clock, so event times and the host's
wall clock compare directly.
"""

from __future__ import annotations

import json
import queue
import re
import subprocess
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from statistics import median
from typing import Any

from dws.lab import PREFIX, LabError, docker
from dws.util import DockerError, docker_stream

SERVICE_LABEL = "com.docker.swarm.service.name"
TASK_LABEL = "com.docker.swarm.task.id"
# The line gunicorn_conf's post_worker_init hook logs: a worker has loaded
# the application and accepts requests from now on.
READY_MARK = "worker ready"
HEALTH_PROBE = "exec_start"
_TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


@dataclass(frozen=True)
class Event:
    """One container event of a swarm task, as a node's engine reported it."""

    node: str
    at: float  # wall clock, seconds since the epoch
    action: str  # start | die | health_status: healthy | exec_start: ... | ...
    container: str
    service: str
    task: str
    image: str


def parse_event(line: str, node: str) -> Event | None:
    """One line of `docker events --format '{{json .}}'`; None unless it is a
    container event of a swarm service."""
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("Type") != "container":
        return None
    attrs = (data.get("Actor") or {}).get("Attributes") or {}
    service = attrs.get(SERVICE_LABEL)
    if not service:
        return None
    nano = data.get("timeNano")
    at = nano / 1e9 if isinstance(nano, int) else float(data.get("time", 0))
    return Event(
        node=node,
        at=at,
        action=str(data.get("Action") or data.get("status") or ""),
        container=str((data.get("Actor") or {}).get("ID") or data.get("id") or ""),
        service=service,
        task=str(attrs.get(TASK_LABEL, "")),
        image=str(attrs.get("image", "")),
    )


def parse_timestamp(text: str) -> float | None:
    """An RFC 3339 time as Docker writes it (nanoseconds, `Z` or an offset)
    -> seconds since the epoch; None if it is not one."""
    m = _TIMESTAMP.match(text.strip())
    if not m:
        return None
    whole, fraction, zone = m.groups()
    zone = "+00:00" if zone == "Z" else zone
    base = datetime.fromisoformat(whole + zone).timestamp()
    return base + (float(f"0.{fraction}") if fraction else 0.0)


def first_ready(log_text: str) -> float | None:
    """The time of the first READY_MARK line in `docker logs --timestamps`
    output; None if no worker said it."""
    for line in log_text.splitlines():
        stamp, _, rest = line.partition(" ")
        if READY_MARK in rest:
            return parse_timestamp(stamp)
    return None


def _version(image: str) -> str:
    """`tcr:5000/myhub/bootservice:2.0-dws@sha256:...` -> `2.0`."""
    tag = image.split("@", 1)[0].rsplit("/", 1)[-1].partition(":")[2]
    return tag.removesuffix("-dws") or "?"


def _rel(value: float | None, origin: float | None) -> float | None:
    if value is None or origin is None:
        return None
    return round(value - origin, 2)


def task_timing(
    events: Sequence[Event], ready_at: float | None = None, served_at: float | None = None
) -> dict[str, Any]:
    """One container's path from start to healthy, from its own events (in
    time order), and to the first request it answered through the front
    (``served_at``). Times are seconds after the container started."""
    start = next((e.at for e in events if e.action == "start"), None)
    healthy = next((e.at for e in events if e.action == "health_status: healthy"), None)
    unhealthy = next((e.at for e in events if e.action == "health_status: unhealthy"), None)
    died = next((e.at for e in events if e.action == "die"), None)
    probes = [e.at for e in events if e.action.startswith(HEALTH_PROBE)]
    settled = healthy if healthy is not None else unhealthy
    first = events[0] if events else None
    return {
        "task": first.task[:12] if first else "",
        "node": first.node if first else "",
        "version": _version(first.image) if first else "?",
        "ready_s": _rel(ready_at, start),
        "first_probe_s": _rel(probes[0] if probes else None, start),
        "healthy_s": _rel(healthy, start),
        "unhealthy_s": _rel(unhealthy, start),
        "served_s": _rel(served_at, start),
        "probes_until_settled": sum(1 for p in probes if settled is None or p <= settled),
        "stopped_s": _rel(died, start),
    }


def _by_container(events: Iterable[Event], service: str) -> dict[str, list[Event]]:
    out: dict[str, list[Event]] = {}
    for e in sorted(events, key=lambda e: e.at):
        if e.service == service:
            out.setdefault(e.container, []).append(e)
    return out


def breakdown(
    events: Iterable[Event],
    service: str,
    command_at: float,
    until: float,
    ready: dict[str, float] | None = None,
    served: dict[str, float] | None = None,
) -> dict[str, Any]:
    """What the swarm did for one step: its command ran at ``command_at``
    (wall clock), the step ended at ``until``.

    New tasks are the service's containers started in the window; old ones
    are containers that died in the window without having started in it.
    Step figures are seconds after the command; task figures are seconds
    after that task's container started. ``ready`` maps a container id to
    the time its first worker logged READY_MARK; ``served`` a replica's
    X-Served-By (the first 12 characters of its container id) to the time
    its first answer through the front reached the client.
    """
    new, old_stops = split_window(_by_container(events, service), command_at, until)
    order = sorted(new, key=lambda cid: new[cid][0].at)
    starts = [new[cid][0].at for cid in order]
    healthy = [at for at in (first_healthy(new[cid]) for cid in order) if at is not None]
    tasks = [
        task_timing(new[cid], (ready or {}).get(cid), (served or {}).get(cid[:12]))
        | {"started_s": _rel(new[cid][0].at, command_at)}
        for cid in order
    ]
    return {
        "service": service,
        "new_tasks": len(tasks),
        "old_tasks_stopped": len(old_stops),
        "first_started_s": _rel(min(starts, default=None), command_at),
        "first_healthy_s": _rel(min(healthy, default=None), command_at),
        "all_healthy_s": _rel(max(healthy, default=None), command_at),
        "first_old_stopped_s": _rel(min(old_stops, default=None), command_at),
        "all_old_stopped_s": _rel(max(old_stops, default=None), command_at),
        "tasks": tasks,
    }


def split_window(
    containers: dict[str, list[Event]], command_at: float, until: float
) -> tuple[dict[str, list[Event]], list[float]]:
    """The containers that started in the window (their events from that start
    on) and the times the others died in it (the old tasks)."""
    new: dict[str, list[Event]] = {}
    old_stops: list[float] = []
    for cid, evs in containers.items():
        window = [e for e in evs if command_at <= e.at <= until]
        starts = [e for e in window if e.action == "start"]
        if starts:
            new[cid] = [e for e in evs if starts[0].at <= e.at <= until]
        else:
            old_stops += [e.at for e in window if e.action == "die"][:1]
    return new, old_stops


def first_healthy(events: Iterable[Event]) -> float | None:
    """When a container first turned healthy (None: never)."""
    return next((e.at for e in events if e.action == "health_status: healthy"), None)


def first_served(records: Iterable[Any], wall_offset: float) -> dict[str, float]:
    """X-Served-By -> wall time its first successful answer ended, from the
    probe's records (monotonic times + ``wall_offset`` = wall clock)."""
    out: dict[str, float] = {}
    for r in records:
        if r.served_by and r.status is not None and r.status < 500:
            end = r.started + r.seconds + wall_offset
            if end < out.get(r.served_by, float("inf")):
                out[r.served_by] = end
    return out


def inconsistencies(step: str, figures: dict[str, Any]) -> list[str]:
    """Orderings a breakdown must respect (events out of order mean the
    measurement is wrong, not the swarm slow)."""
    out = []
    first, healthy, last = (
        figures.get("first_started_s"),
        figures.get("first_healthy_s"),
        figures.get("all_healthy_s"),
    )
    if first is not None and first < 0:
        out.append(f"{step}: a new task started before the command")
    if None not in (first, healthy) and healthy < first:
        out.append(f"{step}: healthy ({healthy} s) before the first start ({first} s)")
    if None not in (healthy, last) and last < healthy:
        out.append(f"{step}: the last task healthy before the first")
    for t in figures.get("tasks", []):
        for name in ("ready_s", "first_probe_s", "healthy_s", "unhealthy_s"):
            if t.get(name) is not None and t[name] < 0:
                out.append(f"{step}: task {t['task']} {name} = {t[name]} before its start")
        if None not in (t.get("ready_s"), t.get("healthy_s")) and t["healthy_s"] < t["ready_s"]:
            out.append(f"{step}: task {t['task']} healthy before a worker was ready")
        if None not in (t.get("ready_s"), t.get("served_s")) and t["served_s"] < t["ready_s"]:
            out.append(f"{step}: task {t['task']} served before a worker was ready")
    return out


def summary(breakdowns: dict[str, dict[str, Any]], service: str | None = None) -> dict[str, Any]:
    """Medians over every new task of the run (of ``service``, if given) that
    turned healthy: the replica's own start-up, independent of the step."""
    tasks = [
        t
        for b in breakdowns.values()
        if service is None or b.get("service") == service
        for t in b.get("tasks", [])
        if t["healthy_s"] is not None
    ]

    def med(name: str) -> float | None:
        values = [t[name] for t in tasks if t.get(name) is not None]
        return round(median(values), 2) if values else None

    waits = [t["healthy_s"] - t["ready_s"] for t in tasks if t.get("ready_s") is not None]
    routed = [t["served_s"] - t["healthy_s"] for t in tasks if t.get("served_s") is not None]
    return {
        "service": service,
        "healthy_tasks": len(tasks),
        "median_ready_s": med("ready_s"),
        "median_first_probe_s": med("first_probe_s"),
        "median_healthy_s": med("healthy_s"),
        "max_healthy_s": round(max(t["healthy_s"] for t in tasks), 2) if tasks else None,
        # Healthy minus ready: waiting for the next probe, and the probe itself.
        "median_wait_for_probe_s": round(median(waits), 2) if waits else None,
        "median_served_s": med("served_s"),
        # Served minus healthy: Swarm's DNS learning the task, nginx
        # re-resolving (every second) and the first request reaching it.
        "median_healthy_to_served_s": round(median(routed), 2) if routed else None,
    }


def table(breakdowns: dict[str, dict[str, Any]]) -> str:
    """The printed table: one line per step, seconds after its command."""

    def cell(value: Any) -> str:
        return "-" if value is None else f"{value}"

    lines = [
        f"{'step':<14}{'new':>4}{'started':>9}{'healthy':>9}{'all ok':>8}"
        f"{'old gone':>9}{'all gone':>9}{'ready*':>8}{'healthy*':>9}{'served*':>8}"
    ]
    for step, b in breakdowns.items():
        ok = [t for t in b["tasks"] if t["healthy_s"] is not None]
        ready = [t["ready_s"] for t in ok if t["ready_s"] is not None]
        served = [t["served_s"] for t in ok if t.get("served_s") is not None]
        lines.append(
            f"{step:<14}{b['new_tasks']:>4}{cell(b['first_started_s']):>9}"
            f"{cell(b['first_healthy_s']):>9}{cell(b['all_healthy_s']):>8}"
            f"{cell(b['first_old_stopped_s']):>9}{cell(b['all_old_stopped_s']):>9}"
            f"{cell(round(median(ready), 2) if ready else None):>8}"
            f"{cell(round(median(t['healthy_s'] for t in ok), 2) if ok else None):>9}"
            f"{cell(round(median(served), 2) if served else None):>8}"
        )
    lines.append("seconds after the step's command; * median per task, after its container started")
    return "\n".join(lines)


class EventLog:
    """`docker events` of every lab node's engine, collected in the background.

    A node that goes away (killed) ends its stream; it is followed again
    once its engine answers. When a container's health is first settled,
    its ready line is read from its log at once, while the container and
    its node still exist.
    """

    def __init__(self, lab, nodes: Iterable[str]) -> None:  # lab: dws.lab.Lab
        self.lab = lab
        self.nodes = list(nodes)
        self.events: list[Event] = []
        self.ready: dict[str, float] = {}  # container id -> first READY_MARK
        self._asked: set[str] = set()
        self._to_read: queue.Queue[Event | None] = queue.Queue()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._procs: dict[str, subprocess.Popen] = {}
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Follow every node from now on."""
        for node in self.nodes:
            self._spawn(self._follow, node)
        self._spawn(self._read_ready_lines)

    def _spawn(self, target, *args) -> None:  # noqa: ANN001 - a bound method
        t = threading.Thread(target=target, args=args, daemon=True)
        t.start()
        self._threads.append(t)

    def _command(self, node: str) -> list[str]:
        return [
            "exec",
            f"{PREFIX}-{node}",
            "docker",
            "events",
            "--format",
            "{{json .}}",
            "--filter",
            "type=container",
            "--filter",
            f"label={SERVICE_LABEL}",
        ]

    def _follow(self, node: str) -> None:
        while not self._stop.is_set():
            try:
                proc = docker_stream(*self._command(node), host="")
            except DockerError:
                return
            self._procs[node] = proc
            for line in proc.stdout or ():
                event = parse_event(line, node)
                if event is None:
                    continue
                with self._lock:
                    self.events.append(event)
                    first = event.container not in self._asked
                    if event.action.startswith("health_status") and first:
                        self._asked.add(event.container)
                        self._to_read.put(event)
            proc.wait()
            self._stop.wait(1.0)

    def _read_ready_lines(self) -> None:
        while (event := self._to_read.get()) is not None:
            at = self._ready_line(event)
            if at is not None:
                with self._lock:
                    self.ready[event.container] = at

    @staticmethod
    def _ready_line(event: Event) -> float | None:
        # gunicorn logs to stderr; only the first matching line is needed.
        script = f"docker logs --timestamps {event.container} 2>&1 | grep -m1 '{READY_MARK}'"
        try:
            text = docker("exec", f"{PREFIX}-{event.node}", "sh", "-c", script, check=False)
        except LabError:  # a node that is gone: no figure
            return None
        return first_ready(text or "")

    def stop(self) -> None:
        """Stop following (the collected events stay)."""
        self._stop.set()
        self._to_read.put(None)
        for proc in self._procs.values():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
        for t in self._threads:
            t.join(timeout=30)

    def snapshot(self) -> list[Event]:
        """The events collected so far."""
        with self._lock:
            return list(self.events)

    def ready_times(self, events: Iterable[Event]) -> dict[str, float]:
        """Container id -> time its first worker logged READY_MARK: read when
        its health settled, else now from its log (if it still exists)."""
        with self._lock:
            out = dict(self.ready)
        for e in events:
            if e.action == "start" and e.container not in out:
                at = self._ready_line(e)
                if at is not None:
                    out[e.container] = at
        return out


def wall_clock() -> float:
    """The time a step's command is issued (comparable with event times)."""
    return time.time()
