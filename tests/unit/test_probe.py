"""The replay's writer against a made-up service on loopback: a write whose
outcome is unknown when the last step ends keeps repeating with its key
until it is settled (finish), or stops at once (stop)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dws import probe as probe_mod
from dws.probe import Probe
from dws.replay_report import step_stats

from helpers import JsonHandler

STEP = "node-crash"
AFTER_STEPS = "verify"


class FakeService(ThreadingHTTPServer):
    """Answers the first key's first attempt 504 and its repeats 409 "request in
    progress" until `lease` seconds after its first attempt, then 201 (the
    claim taken over); every other key 201 at once."""

    daemon_threads = True

    def __init__(self, lease: float) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.lease = lease
        self.first_key: str | None = None
        self.first_at = 0.0
        self.attempts: Counter = Counter()
        self.in_progress_sent = threading.Event()
        self.next_id = 1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(JsonHandler):
    server: FakeService

    def do_POST(self) -> None:  # noqa: N802 - the http.server name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        key = self.headers.get("Idempotency-Key")
        srv = self.server
        srv.attempts[key] += 1
        if srv.first_key is None:
            srv.first_key, srv.first_at = key, time.monotonic()
        if key == srv.first_key and srv.attempts[key] == 1:
            return self.answer(504, {"error": "gateway timeout"})
        if key == srv.first_key and time.monotonic() - srv.first_at < srv.lease:
            srv.in_progress_sent.set()
            return self.answer(409, {"error": "request in progress"})
        row_id, srv.next_id = srv.next_id, srv.next_id + 1
        name = json.loads(body)["countryname"]
        self.answer(
            201, {"id": row_id, "countryname": name}, location=f"/api/v1/countries/{row_id}"
        )


@pytest.fixture
def service(monkeypatch):
    monkeypatch.setattr(probe_mod, "RETRY_BACKOFF", (0.05,))
    srv = FakeService(lease=1.5)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def writer(url: str) -> Probe:
    probe = Probe(url, ("admin", "x"), run_id="t", readers=0, write_every=0.05, session_every=0)
    probe.set_step(STEP)
    return probe


def test_finish_lets_a_write_of_unknown_outcome_settle_after_the_last_step(service):
    probe = writer(service.url)
    probe.start()
    assert service.in_progress_sent.wait(5), "the writer never repeated its first write"
    probe.set_step(AFTER_STEPS)
    started = time.monotonic()
    probe.finish()
    assert time.monotonic() - started < probe_mod.RETRY_FOR_S
    assert service.first_key is not None
    first = [r for r in probe.records if r.key == service.first_key.strip('"')]
    assert first[0].status == 504 and first[-1].status == 201
    assert {r.status for r in first[1:-1]} == {409}
    assert first[-1].step == AFTER_STEPS
    assert probe.settled_after_last_step == 1 and probe.settled_by_repeat == 1
    assert not probe.unknown
    # The step's 504 and 409s were absorbed by the repeat that settled the write.
    stats = step_stats(STEP, probe.of_step(STEP), probe.started_at, 1)
    assert stats["failures"] == 0 and stats["in_progress_409"] >= 1
    assert stats["in_progress_409_failed"] == 0


def test_stop_ends_the_repeats_at_once(service):
    service.lease = 3600
    probe = writer(service.url)
    probe.start()
    assert service.in_progress_sent.wait(5)
    started = time.monotonic()
    probe.stop()
    assert time.monotonic() - started < 5
    assert len(probe.unknown) == 1 and probe.settled_after_last_step == 0
    stats = step_stats(STEP, probe.of_step(STEP), probe.started_at, 1)
    assert stats["failures"] >= 2 and stats["in_progress_409_failed"] >= 1


class ClosingOnce(BaseHTTPRequestHandler):
    """Closes the first connection's request unanswered (an idle keep-alive
    connection closed by a reload); answers the others."""

    protocol_version = "HTTP/1.1"
    closed = 0

    def log_message(self, *args) -> None:  # noqa: ANN002 - quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 - the http.server name
        if ClosingOnce.closed == 0:
            ClosingOnce.closed += 1
            self.close_connection = True
            return
        body = b"<title>ok</title>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_a_get_closed_unanswered_is_sent_once_more_and_counted():
    ClosingOnce.closed = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), ClosingOnce)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        probe = Probe(f"http://127.0.0.1:{server.server_address[1]}", ("u", "p"), "t")
        with probe_mod.tls.client_session(False) as session:
            first = probe._request(session, "GET", "/countries", "page")
            second = probe._request(session, "GET", "/countries", "page")
    finally:
        server.shutdown()
        server.server_close()
    assert ClosingOnce.closed == 1
    assert first.status == 200 and first.reconnected and not first.failed
    assert second.status == 200 and not second.reconnected
    assert step_stats("deploy", [first, second], 0.0, 1.0)["client_reconnects"] == 1


def test_a_post_closed_unanswered_is_a_failure_not_sent_again():
    ClosingOnce.closed = 0

    class PostClosing(ClosingOnce):
        do_POST = ClosingOnce.do_GET  # noqa: N815 - the http.server name

    server = ThreadingHTTPServer(("127.0.0.1", 0), PostClosing)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        probe = Probe(f"http://127.0.0.1:{server.server_address[1]}", ("u", "p"), "t")
        with probe_mod.tls.client_session(False) as session:
            rec = probe._request(session, "POST", "/countries", "form", data={"a": "b"})
    finally:
        server.shutdown()
        server.server_close()
    assert rec.status is None and rec.failed and not rec.reconnected
    assert "RemoteDisconnected" in rec.error
