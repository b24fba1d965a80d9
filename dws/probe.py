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

from dws import tls
from dws.replay_report import attempts
from dws.util import StepFailed, wait_until

REPORT = Path(__file__).resolve().parents[1] / "build" / "reports" / "replay.json"

TITLE_RE = re.compile(r"<title>\s*([^<]*?)\s*</title>", re.S)
# Through the whole stack a request needs a few ms; a generous read timeout
# still keeps a hung request visible as a failure rather than a stall.
TIMEOUT = (3.0, 30.0)


# Substrings searched by the readers that always reach the database (a
# filtered list is never served from a replica's copy of the table).
SEARCHES = ("an", "ia", "ch", "ra", "ma", "ka", "el", "or", "us", "in")
# A POST whose outcome the writer did not learn is sent again with the same
# Idempotency-Key, with this backoff, for at most this long.
RETRY_BACKOFF = (0.25, 0.5, 1.0, 2.0)
RETRY_FOR_S = 90.0
UNKNOWN_OUTCOME = (None, 409, 502, 503, 504)


@dataclass
class Record:
    """One probe request and what came back."""

    step: str
    kind: str  # page | read | search | fresh-read | write
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
    request_id: str | None = None
    # The proxies' upstream attempts ($upstream_status): "502, 200" was retried.
    front_status: str | None = None
    node_status: str | None = None
    key: str | None = None  # a write's Idempotency-Key
    attempt: int = 1  # a write's attempt with that key
    # A write attempt with an unknown outcome that a later attempt with the
    # same key settled: absorbed by the client, not a failure.
    settled_by_retry: bool = False

    @property
    def failed(self) -> bool:
        """A connection error, a timeout, a 5xx, or any status but the expected one."""
        expected = 201 if self.kind == "write" else 200
        return self.status != expected or (self.error is not None)

    @property
    def front_attempts(self) -> int:
        """Attempts the front load balancer made (0: not reported)."""
        return attempts(self.front_status)

    @property
    def node_attempts(self) -> int:
        """Attempts the answering node's nginx made (0: not reported)."""
        return attempts(self.node_status)


class Probe:
    """Continuous mixed traffic through the front load balancer, recorded per step.

    ``readers`` threads share a budget of ``rate`` requests per second:
    pages and API reads that a replica may serve from its copy of the
    country table, searches that always reach the database, and reads of
    rows just written (by name, through the database). One writer creates
    countries with HTTP Basic auth and an Idempotency-Key, and sends a POST
    whose outcome it did not learn again with the same key. Every request
    asks the proxies for their upstream attempts and carries its own
    X-Request-ID. Bounded: it stops itself after ``max_seconds`` or
    ``max_requests``, whichever comes first.
    """

    def __init__(
        self,
        base_url: str,
        auth: tuple[str, str],
        run_id: str,
        *,
        readers: int = 8,
        rate: float = 100.0,
        write_every: float = 0.5,
        max_seconds: float = 2400,
        max_requests: int = 400_000,
        verify: str | bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.verify = verify  # the CA bundle that signed the front's certificate
        self.auth = auth
        self.run_id = run_id
        self.readers = readers
        self.rate = rate
        self.write_every = write_every
        self.max_seconds = max_seconds
        self.max_requests = max_requests
        self.step = "deploy"
        self.records: list[Record] = []
        # name -> (id, countrycode) of every acknowledged write; names whose
        # outcome the writer never learned.
        self.acknowledged: dict[str, tuple[int, str]] = {}
        self.unknown: list[str] = []
        self._recent: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # Set by stop() only: a write of unknown outcome stops repeating too.
        self._abort = threading.Event()
        self._finishing = 0.0
        # Writes a repeat with the same key settled; of those, the ones settled
        # after the last step (while finish() let them repeat).
        self.settled_by_repeat = 0
        self.settled_after_last_step = 0
        self._threads: list[threading.Thread] = []
        self._write_seq = itertools.count(1)
        self._request_seq = itertools.count(1)
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

    def finish(self) -> None:
        """Stop after the last step as a real client would: no new request, but
        a write whose outcome is still unknown goes on repeating with its key
        for up to RETRY_FOR_S from its first attempt, longer than the service's
        claim lease (a claim whose request died with its node is taken over
        only after it), then every thread is joined."""
        if self._threads and not self._finishing:
            self._finishing = time.monotonic()
        self._stop.set()
        self._join(RETRY_FOR_S + TIMEOUT[1] + 10)

    def stop(self) -> None:
        """Stop at once (a run that failed): a write being repeated stops
        repeating; requests in flight complete."""
        self._abort.set()
        self._stop.set()
        self._join(TIMEOUT[1] + 10)

    def _join(self, timeout: float) -> None:
        for t in self._threads:
            t.join(timeout=timeout)
        self._threads = [t for t in self._threads if t.is_alive()]

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
        with tls.client_session(self.verify) as session:
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
        interval = self.readers / self.rate if self.rate > 0 else 0.0
        due = time.monotonic()
        n = 0
        while not self._expired():
            n += 1
            choice = n % 5
            check_name = None
            if choice == 0:
                path, kind = f"/countries?page={rnd.randint(1, 19)}", "page"
            elif choice == 1:
                path, kind = f"/api/v1/countries/{rnd.randint(1, 183)}", "read"
            elif choice == 2:
                term = rnd.choice(SEARCHES)
                path, kind = f"/api/v1/countries?countryname={term}&rows=20", "search"
            elif choice == 3:
                path, kind = f"/countries?countryname={rnd.choice(SEARCHES)}", "search"
            else:
                with self._lock:
                    check_name = rnd.choice(self._recent) if self._recent else None
                if check_name is None:
                    path, kind = f"/api/v1/cities?name={rnd.choice(SEARCHES)}", "search"
                else:
                    path = f"/api/v1/countries?countryname={check_name}&rows=100"
                    kind = "fresh-read"
            self._request(session, "GET", path, kind, expect_name=check_name)
            # Paced: together the readers send about `rate` requests a second;
            # a reader that fell behind does not catch up in a burst.
            due = max(due + interval, time.monotonic() - 1.0)
            self._stop.wait(max(0.0, due - time.monotonic()))

    def _write_loop(self, session: requests.Session, _index: int) -> None:
        while not self._expired():
            seq = next(self._write_seq)
            name = f"e2e-{self.run_id}-{seq}"
            code = f"Z{seq % 1000:03d}"
            self._write(session, name, code, f"{self.run_id}-{seq}")
            self._stop.wait(self.write_every)

    def _write(self, session: requests.Session, name: str, code: str, key: str) -> None:
        """POST one country; repeat it with its key until its outcome is known."""
        first = time.monotonic()
        attempts: list[Record] = []
        for attempt in itertools.count(1):
            rec = self._request(
                session,
                "POST",
                "/api/v1/countries",
                "write",
                json_body={"countryname": name, "countrycode": code},
                created_name=name,
                key=key,
                attempt=attempt,
            )
            attempts.append(rec)
            if rec.status not in UNKNOWN_OUTCOME:
                break
            if time.monotonic() - first > RETRY_FOR_S:
                break
            if self._abort.wait(RETRY_BACKOFF[min(attempt, len(RETRY_BACKOFF)) - 1]):
                break
        last = attempts[-1]
        with self._lock:
            if last.status == 201 and last.created_id is not None:
                self.acknowledged[name] = (last.created_id, code)
                self._recent = [*self._recent[-19:], name]
                for rec in attempts[:-1]:
                    rec.settled_by_retry = True
                if len(attempts) > 1:
                    self.settled_by_repeat += 1
                    if self._finishing and last.started >= self._finishing:
                        self.settled_after_last_step += 1
            elif last.status in UNKNOWN_OUTCOME:
                self.unknown.append(name)

    def _request(
        self,
        session: requests.Session,
        method: str,
        path: str,
        kind: str,
        *,
        json_body: dict | None = None,
        created_name: str | None = None,
        expect_name: str | None = None,
        key: str | None = None,
        attempt: int = 1,
    ) -> Record:
        step = self.step
        request_id = f"{self.run_id}-{next(self._request_seq)}"
        headers = {"X-Upstream-Trace": "1", "X-Request-ID": request_id}
        if key is not None:
            headers["Idempotency-Key"] = f'"{key}"'
        extra = {"request_id": request_id, "key": key, "attempt": attempt}
        started = time.monotonic()
        try:
            resp = session.request(
                method,
                self.base_url + path,
                json=json_body,
                headers=headers,
                timeout=TIMEOUT,
                auth=self.auth if method == "POST" else None,
            )
        except requests.RequestException as exc:
            return self._record(
                kind, None, None, f"{type(exc).__name__}: {exc}", started, step, **extra
            )
        with resp:
            body = resp.text
            title = None
            created_id = None
            error = None
            if kind == "page":
                m = TITLE_RE.search(body)
                title = m.group(1) if m else None
            elif kind == "fresh-read" and resp.status_code == 200:
                # A row acknowledged earlier must be there, read from the database.
                try:
                    names = [row["countryname"] for row in json.loads(body)["list"]]
                except (ValueError, KeyError, TypeError):
                    names = []
                if expect_name not in names:
                    error = f"acknowledged write {expect_name} not found"
            elif kind == "write" and resp.status_code == 201:
                try:
                    created_id = int(json.loads(body)["id"])
                except (ValueError, KeyError, TypeError):
                    created_id = None
                if not resp.headers.get("Location") or created_id is None:
                    error = f"201 without Location or id: {body[:200]}"
            return self._record(
                kind,
                resp.status_code,
                resp,
                error,
                started,
                step,
                title=title,
                created_id=created_id,
                created_name=created_name,
                **extra,
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
        request_id: str | None = None,
        key: str | None = None,
        attempt: int = 1,
    ) -> Record:
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
            request_id=request_id,
            front_status=headers.get("X-Front-Upstream-Status"),
            node_status=headers.get("X-Upstream-Status"),
            key=key,
            attempt=attempt,
        )
        with self._lock:
            self.records.append(rec)
        return rec

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
    """Poll ``check`` until it returns something truthy; StepFailed on timeout."""
    return wait_until(what, check, timeout, interval, error=StepFailed)


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
