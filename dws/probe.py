"""Machinery of the tutorial replay: the traffic probe and swarm polling helpers.

Used by the replay (dws.replay). The probe only ever talks to the lab's front load balancer
on 127.0.0.1 and the lab's own node addresses.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests

from dws.util import wait_until

REPORT = Path(__file__).resolve().parents[1] / "build" / "reports" / "replay.json"

TITLE_RE = re.compile(r"<title>\s*([^<]*?)\s*</title>", re.S)
# Through the whole stack a request needs a few ms; a generous read timeout
# still keeps a hung request visible as a failure rather than a stall.
TIMEOUT = (3.0, 30.0)


@dataclass(frozen=True)
class Record:
    """One probe request and what came back."""

    step: str
    kind: str  # page | read | write
    status: int | None  # None: connection error or timeout
    served_by: str | None
    version: str | None
    title: str | None
    error: str | None
    started: float
    seconds: float
    created_id: int | None = None
    created_name: str | None = None
    node: str | None = None  # X-Lab-Node: which node the front load balancer used

    @property
    def failed(self) -> bool:
        """A connection error, a timeout, a 5xx, or any status but the expected one."""
        expected = 201 if self.kind == "write" else 200
        return self.status != expected


class Probe:
    """Continuous traffic through the front load balancer, recorded per step.

    ``readers`` threads alternate pages (GET /countries?page=N) and API reads
    (GET /api/v1/countries/<id>); one writer thread creates countries with
    HTTP Basic auth. Every response is recorded with the step that was current
    when the request started. Bounded: it stops itself after ``max_seconds``
    or ``max_requests``, whichever comes first.
    """

    def __init__(
        self,
        base_url: str,
        auth: tuple[str, str],
        run_id: str,
        *,
        readers: int = 3,
        pause: float = 0.05,
        write_every: float = 0.5,
        max_seconds: float = 1800,
        max_requests: int = 400_000,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.run_id = run_id
        self.readers = readers
        self.pause = pause
        self.write_every = write_every
        self.max_seconds = max_seconds
        self.max_requests = max_requests
        self.step = "deploy"
        self.records: list[Record] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._write_seq = itertools.count(1)
        self._started = 0.0

    # -- control

    def start(self) -> None:
        """Start the client threads."""
        self._started = time.monotonic()
        for i in range(self.readers):
            self._threads.append(
                threading.Thread(
                    target=self._run,
                    args=(self._read_loop, i),
                    name=f"probe-reader-{i}",
                    daemon=True,
                )
            )
        self._threads.append(
            threading.Thread(
                target=self._run, args=(self._write_loop, 0), name="probe-writer", daemon=True
            )
        )
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        """Stop and join the client threads (requests in flight complete)."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)
        self._threads.clear()

    @property
    def started_at(self) -> float:
        """Monotonic time the probe started (0 before)."""
        return self._started

    def set_step(self, name: str) -> None:
        """Label the requests that start from now on."""
        self.step = name

    def _expired(self) -> bool:
        return (
            self._stop.is_set()
            or time.monotonic() - self._started > self.max_seconds
            or len(self.records) >= self.max_requests
        )

    # -- clients

    def _run(self, loop: Callable[[requests.Session, int], None], index: int) -> None:
        # Never let an exception escape a thread: pytest turns it into an error
        # far from its cause; record it as a failed request instead.
        with requests.Session() as session:
            try:
                loop(session, index)
            except Exception as exc:  # noqa: BLE001 - recorded, then the thread ends
                self._record(
                    "page",
                    None,
                    None,
                    f"probe thread crashed: {exc!r}",
                    time.monotonic(),
                    self.step,
                )

    def _read_loop(self, session: requests.Session, index: int) -> None:
        rnd = random.Random(index)
        n = 0
        while not self._expired():
            n += 1
            if n % 2:
                path, kind = f"/countries?page={rnd.randint(1, 19)}", "page"
            else:
                path, kind = f"/api/v1/countries/{rnd.randint(1, 183)}", "read"
            self._request(session, "GET", path, kind)
            if self.pause:
                time.sleep(self.pause)

    def _write_loop(self, session: requests.Session, _index: int) -> None:
        while not self._expired():
            seq = next(self._write_seq)
            name = f"e2e-{self.run_id}-{seq}"
            self._request(
                session,
                "POST",
                "/api/v1/countries",
                "write",
                json_body={"countryname": name, "countrycode": f"Z{seq % 1000:03d}"},
                created_name=name,
            )
            self._stop.wait(self.write_every)

    def _request(
        self,
        session: requests.Session,
        method: str,
        path: str,
        kind: str,
        *,
        json_body: dict | None = None,
        created_name: str | None = None,
    ) -> None:
        step = self.step
        started = time.monotonic()
        try:
            resp = session.request(
                method,
                self.base_url + path,
                json=json_body,
                timeout=TIMEOUT,
                auth=self.auth if method == "POST" else None,
            )
        except requests.RequestException as exc:
            self._record(kind, None, None, f"{type(exc).__name__}: {exc}", started, step)
            return
        with resp:
            body = resp.text
            title = None
            created_id = None
            if kind == "page":
                m = TITLE_RE.search(body)
                title = m.group(1) if m else None
            elif kind == "write" and resp.status_code == 201:
                try:
                    created_id = int(json.loads(body)["id"])
                except (ValueError, KeyError, TypeError):
                    created_id = None
                if not resp.headers.get("Location") or created_id is None:
                    self._record(
                        kind, None, resp, f"201 without Location or id: {body[:200]}", started, step
                    )
                    return
            self._record(
                kind,
                resp.status_code,
                resp,
                None,
                started,
                step,
                title=title,
                created_id=created_id,
                created_name=created_name,
            )

    def _record(
        self,
        kind: str,
        status: int | None,
        resp: requests.Response | None,
        error: str | None,
        started: float,
        step: str,
        *,
        title: str | None = None,
        created_id: int | None = None,
        created_name: str | None = None,
    ) -> None:
        headers = resp.headers if resp is not None else {}
        if error is None and status is not None and status >= 500:
            error = f"HTTP {status}"
        rec = Record(
            step=step,
            kind=kind,
            status=status,
            served_by=headers.get("X-Served-By"),
            version=headers.get("X-App-Version"),
            title=title,
            error=error,
            started=started,
            seconds=time.monotonic() - started,
            created_id=created_id,
            created_name=created_name,
            node=headers.get("X-Lab-Node"),
        )
        with self._lock:
            self.records.append(rec)

    # -- queries

    def of_step(self, step: str) -> list[Record]:
        """The records of one step."""
        with self._lock:
            return [r for r in self.records if r.step == step]

    def since(self, started: float) -> list[Record]:
        """The records of requests started at or after a monotonic time."""
        with self._lock:
            return [r for r in self.records if r.started >= started]

    def writes(self) -> list[Record]:
        """Every successful write (201 with an id)."""
        with self._lock:
            return [r for r in self.records if r.kind == "write" and r.created_id is not None]


def wait_for(
    what: str, check: Callable[[], object], timeout: float, interval: float = 1.0
) -> object:
    """Poll ``check`` until it returns something truthy; AssertionError on timeout."""
    return wait_until(what, check, timeout, interval, error=AssertionError)


class Swarm:
    """Read the swarm's state through the manager's CLI (``lab.Lab.docker``)."""

    def __init__(self, lab) -> None:
        self.lab = lab

    def _json_lines(self, *args: str) -> list[dict]:
        out = self.lab.docker(*args, "--format", "{{json .}}")
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def tasks(self, service: str) -> list[dict]:
        """Tasks Swarm wants running (`docker service ps --filter desired-state=running`)."""
        return self._json_lines("service", "ps", service, "--filter", "desired-state=running")

    def service(self, service: str) -> dict:
        """`docker service inspect` of one service."""
        return json.loads(self.lab.docker("service", "inspect", service))[0]

    def nodes(self) -> dict[str, dict]:
        """`docker node ls` by host name."""
        return {n["Hostname"]: n for n in self._json_lines("node", "ls")}

    def active_nodes(self) -> list[str]:
        """Host names of the nodes that are Ready and Active."""
        return sorted(
            h
            for h, n in self.nodes().items()
            if n["Status"] == "Ready" and n["Availability"] == "Active"
        )

    def converged(
        self, service: str, count: int, image: str | None = None, not_on: str | None = None
    ) -> list[dict] | None:
        """The running tasks if exactly ``count`` run (of ``image``, not on ``not_on``)."""
        tasks = self.tasks(service)
        ok = (
            len(tasks) == count
            and all(t["CurrentState"].startswith("Running") for t in tasks)
            and (image is None or all(t["Image"] == image for t in tasks))
            and (not_on is None or all(t["Node"] != not_on for t in tasks))
        )
        return tasks if ok else None

    def container_hosts(self, service: str) -> set[str]:
        """Host names (container id prefixes) of the running tasks: their X-Served-By."""
        hosts = set()
        for task in self.tasks(service):
            info = json.loads(self.lab.docker("inspect", task["ID"]))[0]
            cid = info.get("Status", {}).get("ContainerStatus", {}).get("ContainerID")
            if cid:
                hosts.add(cid[:12])
        return hosts

    def task_container(self, task_id: str) -> tuple[str, str]:
        """(node, container id) of one task."""
        info = json.loads(self.lab.docker("inspect", task_id))[0]
        node_id = info["NodeID"]
        node = json.loads(self.lab.docker("node", "inspect", node_id))[0]["Description"]["Hostname"]
        return node, info["Status"]["ContainerStatus"]["ContainerID"]
