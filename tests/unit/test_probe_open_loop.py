"""The probe's open loop against a made-up service on loopback: reads are
due on a fixed schedule whatever the answers, each is timed from when it
was due, and a stall of the service shows as slow answers, never as fewer
requests."""

from __future__ import annotations

import threading
import time
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from dws import capacity
from dws import probe as probe_mod
from dws.probe import Probe
from dws.replay_report import IN_TIME_S, step_stats

from helpers import JsonHandler


class Service(ThreadingHTTPServer):
    """Answers every read 200 after `delay` seconds (more while `stall_until`
    is ahead), every write 201."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.delay = 0.0
        self.stall_from = 0.0
        self.stall_until = 0.0
        self.stall = 0.0
        self.lock = threading.Lock()
        self.next_id = 1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(JsonHandler):
    protocol_version = "HTTP/1.1"
    server: Service

    def do_GET(self) -> None:  # noqa: N802 - the http.server name
        wait = self.server.delay
        if self.server.stall_from <= time.monotonic() < self.server.stall_until:
            wait += self.server.stall
        time.sleep(wait)
        query = parse_qs(urlsplit(self.path).query)
        # A search by name finds the name (the probe's fresh reads).
        names = query.get("countryname", [])
        self.answer(200, {"list": [{"countryname": n} for n in names]})

    def do_POST(self) -> None:  # noqa: N802 - the http.server name
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.server.lock:
            new_id = self.server.next_id
            self.server.next_id += 1
        self.answer(201, {"id": new_id}, location=f"/api/v1/countries/{new_id}")


@pytest.fixture
def service():
    server = Service()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def run_open(url: str, rate: float, seconds: float) -> Probe:
    probe = Probe(url, ("u", "p"), "t", open_rate=rate, session_every=0, write_every=3600)
    probe.set_step("steady")
    probe.start()
    time.sleep(seconds)
    probe.finish()
    return probe


def reads(probe: Probe) -> list[probe_mod.Record]:
    return [r for r in probe.records if r.scheduled]


def test_the_reads_are_due_at_the_offered_rate_and_all_in_time(service):
    probe = run_open(service.url, rate=40, seconds=2.0)
    offered = reads(probe)
    # Due 1/40 s apart, whatever the answers, for the 2 s (and the moment
    # the probe took to start its threads).
    dues = sorted(r.started for r in offered)
    assert len(offered) >= 78, len(offered)
    assert (dues[-1] - dues[0]) * 40 + 1 == pytest.approx(len(offered), abs=0.5)
    gaps = [b - a for a, b in zip(dues, dues[1:], strict=False)]
    assert max(gaps) == pytest.approx(0.025, abs=0.002)
    stats = step_stats("steady", probe.of_step("steady"), probe.started_at, 2.0)
    assert stats["offered"] == len(offered)
    assert stats["completed_in_time"] == len(offered) and stats["goodput_share"] == 1.0
    assert probe.load == {
        "mode": "open",
        "offered_rps": 40,
        "capacity_rps": None,
        "workers": probe_mod.OPEN_WORKERS,
    }


def test_a_stall_shows_as_slow_answers_not_fewer_requests(service):
    # The service stalls 1.5 s for every read that arrives between 1.0 and
    # 1.8 s after the probe started.
    service.stall = 1.5
    probe = Probe(service.url, ("u", "p"), "t", open_rate=40, session_every=0, write_every=0)
    probe.set_step("steady")
    probe.start()
    service.stall_from = probe.started_at + 1.0
    service.stall_until = probe.started_at + 1.8
    time.sleep(3.0)
    probe.finish()
    offered = reads(probe)
    window = [r for r in offered if 1.2 <= r.started - probe.started_at < 1.5]
    # Still sent on schedule through the stall: 12 due in those 0.3 s.
    assert 11 <= len(window) <= 13, len(window)
    assert all(r.seconds >= 1.5 for r in window)
    stats = step_stats("steady", probe.of_step("steady"), probe.started_at, 3.0)
    late = stats["offered"] - stats["completed_in_time"]
    assert late >= len(window) and stats["goodput_share"] < 1.0
    assert stats["completed_in_time"] == sum(
        r.seconds <= IN_TIME_S and not r.failed for r in offered
    )


def test_a_read_that_waits_for_a_worker_is_timed_from_when_it_was_due(service, monkeypatch):
    # Two workers, each answer 0.2 s: 10 a second at most, 20 due.
    monkeypatch.setattr(probe_mod, "OPEN_WORKERS", 2)
    service.delay = 0.2
    probe = run_open(service.url, rate=20, seconds=1.5)
    offered = reads(probe)
    assert max(r.queued for r in offered) > 0.3
    for r in offered:
        assert r.seconds >= r.queued + 0.19, r
    stats = step_stats("steady", probe.of_step("steady"), probe.started_at, 1.5)
    assert stats["max_queued_ms"] > 300


def test_the_closed_loop_says_so():
    probe = Probe("http://127.0.0.1:9", ("u", "p"), "t")
    assert probe.load == {"mode": "closed", "readers": 8, "paced_rps": 100.0}


class FakeProbe:
    """A probe whose reads take what `seconds_at(rate)` says, and waited
    `queued_at(rate)` for a worker: the capacity's rule alone, no timing."""

    seconds_at = staticmethod(lambda rate: 0.02 if rate <= 100 else 2.0)
    queued_at = staticmethod(lambda rate: 0.0)
    made: list[dict] = []

    def __init__(self, url, auth, run_id, **options) -> None:
        self.options = options
        FakeProbe.made.append(options)
        self.started_at = 0.0
        self.records: list[probe_mod.Record] = []

    def set_step(self, name: str) -> None:
        pass

    def start(self) -> None:
        rate = self.options["open_rate"]
        self.records = [
            probe_mod.Record(
                step="capacity",
                kind="read",
                status=200,
                served_by=None,
                version=None,
                title=None,
                error=None,
                started=1.0 + i / rate,
                seconds=self.seconds_at(rate),
                scheduled=True,
                queued=self.queued_at(rate),
            )
            for i in range(int(rate))
        ]

    def finish(self) -> None:
        pass


@pytest.fixture
def fake_probe(monkeypatch):
    FakeProbe.made = []
    monkeypatch.setattr(capacity, "Probe", FakeProbe)
    monkeypatch.setattr(capacity, "sleep", lambda s: None)
    return FakeProbe


def test_the_capacity_is_the_last_rate_whose_p99_stayed_within_the_bound(fake_probe):
    found = capacity.measure("http://x", ("u", "p"), "t", rates=(50, 100, 150, 200))
    assert found.rps == 100
    assert [(t["rps"], t["passed"]) for t in found.tried] == [(50, True), (100, True), (150, False)]
    assert found.tried[-1]["p99_ms"] == 2000.0
    # Reads only: no writer, no visitor.
    assert all(o["write_every"] == 0 and o["session_every"] == 0 for o in fake_probe.made)
    assert found.report() == {"capacity_rps": 100, "p99_bound_ms": 500.0, "tried": found.tried}


def test_a_client_short_of_workers_ends_the_search_without_passing(fake_probe, monkeypatch):
    monkeypatch.setattr(FakeProbe, "queued_at", staticmethod(lambda rate: 0.3 * (rate > 50)))
    found = capacity.measure("http://x", ("u", "p"), "t", rates=(50, 100, 150))
    assert found.rps == 50
    assert found.tried[-1] == {
        **found.tried[-1],
        "rps": 100,
        "passed": False,
        "max_queued_ms": 300.0,
    }


def test_a_replay_plan_takes_a_rate_or_measures_the_capacity_first():
    from dws.replay import PLAN
    from dws.replay_run import open_loop

    assert open_loop(PLAN, 0) is PLAN
    fixed = open_loop(PLAN, 200)
    assert not fixed.measure_capacity and fixed.traffic.keywords == {"open_rate": 200.0}
    auto = open_loop(PLAN, "auto")
    assert auto.measure_capacity
    assert auto.traffic.keywords == {"open_rate": capacity.MIN_OFFERED_RPS}
    assert capacity.offered_rate(capacity.Capacity(500, 500)) == 250
    assert capacity.offered_rate(capacity.Capacity(200, 500)) == capacity.MIN_OFFERED_RPS
