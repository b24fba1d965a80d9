"""The replay's figures on made-up records: counting, bounds, the write audit, the picture."""

from __future__ import annotations

from types import SimpleNamespace

from dws.probe import Record
from dws.replay_output import build_report
from dws.replay_report import (
    FORM_INVALID,
    FORM_REFUSED,
    LOGGED_IN,
    LOGGED_OUT,
    MAX_SECONDS,
    MAX_WRITE_SECONDS,
    attempts,
    audit_writes,
    percentile,
    step_stats,
    timeline_png,
    violations,
    write_figures,
)


def rec(step="balance", kind="read", status=200, at=0.0, seconds=0.01, **kw) -> Record:
    base = dict(served_by="r1", version="1.0", title=None, error=None)
    base.update(kw)
    return Record(step=step, kind=kind, status=status, started=100 + at, seconds=seconds, **base)


def test_attempts_count_every_upstream_try():
    assert attempts("200") == 1
    assert attempts("502, 504, 200") == 3
    assert attempts("504 : 200") == 2
    assert attempts(None) == attempts("") == 0


def test_percentiles_are_nearest_rank():
    values = sorted(float(i) for i in range(1, 101))
    assert percentile(values, 50) == 50 and percentile(values, 99) == 99
    assert percentile([], 50) == 0.0


def test_step_counts_retries_failures_and_latency():
    records = [rec(at=i * 0.1) for i in range(97)]
    records.append(rec(front_status="502, 200", node_status="200", seconds=1.2))
    records.append(rec(node_status="504, 200", seconds=10.4))
    records.append(rec(status=None, error="ReadTimeout", seconds=30))
    stats = step_stats("balance", records, 100, 10)
    assert stats["requests"] == 100 and stats["requests_per_second"] == 10
    assert (stats["retried_front"], stats["retried_node"], stats["retried"]) == (1, 1, 2)
    assert stats["failures"] == 1 and stats["failed"][0]["error"] == "ReadTimeout"
    assert stats["max_ms"] == 30000 and stats["slowest"][0]["seconds"] == 30
    problems = violations("balance", stats)
    assert any("client-visible failures" in p for p in problems)
    assert any("slowest read" in p for p in problems)
    assert any("retried by a proxy" in p for p in problems)
    # The same retries in a node crash are expected; the slow bound is 18 s there.
    crash = step_stats("node-crash", records[:-1], 100, 10)
    assert violations("node-crash", crash) == []


def test_fast_503_is_an_answer_only_while_the_database_restarts():
    fast = [rec(status=503, seconds=0.2), rec(status=503, seconds=0.3)]
    assert step_stats("db-restart", fast, 100, 1)["failures"] == 0
    assert step_stats("db-restart", fast, 100, 1)["answered_503"] == 2
    assert step_stats("balance", fast, 100, 1)["failures"] == 2
    slow = [rec(status=503, seconds=6.0)]
    assert step_stats("db-restart", slow, 100, 1)["failures"] == 1


def test_a_step_on_a_named_node_has_the_bounds_of_its_kind():
    records = [rec(at=i * 0.1) for i in range(98)]
    records.append(rec(front_status="502, 200", node_status="200", seconds=12.0))
    records.append(rec(node_status="504, 200", seconds=0.4))
    assert (
        violations("node-crash cloud02", step_stats("node-crash cloud02", records, 100, 10)) == []
    )
    drained = step_stats("drain cloud01", records[:-2] + records[-1:], 100, 10)
    assert violations("drain cloud01", drained) == []
    assert any("retried by a proxy" in p for p in violations("steady", drained))
    # With three database nodes a 503 is a failure, unless every node is down.
    fast_503 = [rec(status=503, seconds=0.2)]
    assert step_stats("db-rolling-restart", fast_503, 100, 1)["failures"] == 1
    assert step_stats("db-full-crash", fast_503, 100, 1)["failures"] == 0
    # With every database node killed, a 503 may wait for a dead address's connect timeout.
    waited = [rec(status=503, seconds=6.0)]
    assert step_stats("db-full-crash", waited, 100, 1)["failures"] == 0
    assert step_stats("db-full-crash", [rec(status=503, seconds=11.0)], 100, 1)["failures"] == 1


def test_writes_have_their_own_bound_for_the_commit_under_load():
    records = [rec(step="update", at=i * 0.1) for i in range(99)]
    slow_write = rec(step="update", kind="write", status=201, seconds=6.0, key="w1")
    assert violations("update", step_stats("update", [*records, slow_write], 100, 10)) == []
    too_slow = rec(step="update", kind="write", status=201, seconds=10.5, key="w2")
    problems = violations("update", step_stats("update", [*records, too_slow], 100, 10))
    assert problems == [f"update: slowest write 10500 ms (bound {MAX_WRITE_SECONDS} s)"]
    slow_read = rec(step="update", seconds=6.0)
    problems = violations("update", step_stats("update", [*records, slow_read], 100, 10))
    assert problems == [f"update: slowest read 6000 ms (bound {MAX_SECONDS} s)"]


def test_write_settled_by_its_retry_is_not_a_failure():
    lost = rec(kind="write", status=504, key="k1")
    settled = rec(kind="write", status=504, key="k2", settled_by_retry=True)
    stats = step_stats("node-crash", [lost, settled, rec(kind="write", status=201)], 100, 1)
    assert stats["failures"] == 1 and stats["client_retried_writes"] == 1


def test_a_409_in_progress_is_absorbed_when_a_repeat_settles_the_write():
    # A write in flight on a node that died: 504, then "request in progress"
    # until the claim's lease runs out; the repeat after it answers 201.
    settled = [
        rec(kind="write", status=504, key="k1", settled_by_retry=True),
        *(rec(kind="write", status=409, key="k1", settled_by_retry=True) for _ in range(13)),
    ]
    stats = step_stats("node-crash", settled, 100, 1)
    assert stats["failures"] == 0 and stats["client_retried_writes"] == 14
    assert stats["in_progress_409"] == 13 and stats["in_progress_409_failed"] == 0
    # The writer gave up with the outcome still unknown: every attempt a failure.
    given_up = [rec(kind="write", status=409, key="k2") for _ in range(3)]
    stats = step_stats("node-crash", given_up, 100, 1)
    assert stats["failures"] == 3 and stats["in_progress_409_failed"] == 3
    assert violations("node-crash", stats) == ["node-crash: 3 client-visible failures"]
    figures = write_figures([*settled, *given_up], settled_by_repeat=1, settled_after_last_step=1)
    assert figures == {"settled_by_repeat": 1, "settled_after_last_step": 1, "in_progress_409": 16}


class WithoutOutcome:
    """A record of another traffic source, which knows no `outcome`."""

    def __init__(self, record: Record) -> None:
        self._record = record

    def __getattr__(self, name: str):
        if name == "outcome":
            raise AttributeError(name)
        return getattr(self._record, name)


def visitor(step: str, logged_out: int = 0, refused: int = 0) -> list[Record]:
    """The logged-in visitor's records of one step: 10 checks, 3 form posts,
    `logged_out` of the checks sent to the login form (each followed by a
    login), `refused` of the posts refused by the CSRF check."""
    out = [rec(step, "session", 302, outcome=LOGGED_OUT) for _ in range(logged_out)]
    out += [rec(step, "login", 302, outcome=LOGGED_IN) for _ in range(logged_out)]
    out += [rec(step, "session", 200, outcome=LOGGED_IN) for _ in range(10 - logged_out)]
    out += [rec(step, "form", 400, outcome=FORM_REFUSED) for _ in range(refused)]
    out += [rec(step, "form", 400, outcome=FORM_INVALID) for _ in range(3 - refused)]
    return out


def test_the_visitor_logged_out_or_its_form_refused_breaks_a_promise():
    records = [rec(at=i * 0.1) for i in range(50)]
    kept = step_stats("rotate-session-key", [*records, *visitor("rotate-session-key")], 100, 10)
    assert (kept["session_checks"], kept["form_posts"]) == (10, 3)
    assert (kept["logouts"], kept["forms_refused"], kept["failures"]) == (0, 0, 0)
    assert kept["by_kind"] == {"form": 3, "read": 50, "session": 10}
    assert violations("rotate-session-key", kept) == []
    lost = step_stats(
        "rotate-session-key", [*records, *visitor("rotate-session-key", 2, 1)], 100, 10
    )
    assert (lost["session_checks"], lost["form_posts"]) == (10, 3)
    # Counted as logouts and refused forms, not as failed requests.
    assert (lost["logouts"], lost["forms_refused"], lost["failures"]) == (2, 1, 0)
    assert lost["by_kind"] == {"form": 3, "login": 2, "read": 50, "session": 10}
    assert violations("rotate-session-key", lost) == [
        "rotate-session-key: 2 logouts of the logged-in visitor",
        "rotate-session-key: 1 open forms refused by the CSRF check",
    ]
    # Failing visitor requests are failures like any other, not logouts.
    failed = [
        rec(kind="session", status=None, error="ConnectTimeout"),
        rec(kind="form", status=503),
    ]
    stats = step_stats("balance", failed, 100, 1)
    assert (stats["failures"], stats["logouts"], stats["session_checks"]) == (2, 0, 1)
    # Traffic without a visitor: zeros, also for records without an outcome.
    stats = step_stats("balance", [WithoutOutcome(rec())], 100, 1)
    assert (stats["session_checks"], stats["logouts"], stats["forms_refused"]) == (0, 0, 0)


def test_the_report_totals_the_visitor_figures_of_every_step(tmp_path):
    steps = ("deploy", "rotate-session-key", "rotate-db-password")
    records = [
        *visitor("deploy"),
        *visitor("rotate-session-key", logged_out=1),
        *visitor("rotate-db-password", logged_out=2, refused=3),
    ]
    traffic = SimpleNamespace(
        records=records,
        started_at=100.0,
        acknowledged={},
        settled_by_repeat=0,
        settled_after_last_step=0,
    )
    run = SimpleNamespace(
        events=None,
        traffic=traffic,
        rows=[{"name": name, "seconds": 1.0} for name in steps],
        spans=[
            {"name": name, "start": 100.0 + i, "end": 101.0 + i} for i, name in enumerate(steps)
        ],
        audit=audit_writes({}, [], []),
        started=100.0,
        lab=SimpleNamespace(engine="26", engine_version="26.1.5"),
        extra={},
    )
    report = build_report(run)
    by_name = {row["name"]: row for row in report["steps"]}
    assert [by_name[n]["logouts"] for n in steps] == [0, 1, 2]
    assert [by_name[n]["forms_refused"] for n in steps] == [0, 0, 3]
    assert [by_name[n]["session_checks"] for n in steps] == [10, 10, 10]
    assert (report["logouts"], report["forms_refused"], report["failures"]) == (3, 3, 0)
    assert report["requests_by_kind"]["session"] == 30
    assert report["violations"] == [
        "rotate-session-key: 1 logouts of the logged-in visitor",
        "rotate-db-password: 2 logouts of the logged-in visitor",
        "rotate-db-password: 3 open forms refused by the CSRF check",
    ]


def test_audit_finds_lost_doubled_and_unknown_writes():
    rows = [
        {"id": 1, "countryname": "e2e-x-1", "countrycode": "Z001"},
        {"id": 2, "countryname": "e2e-x-2", "countrycode": "Z002"},
        {"id": 3, "countryname": "e2e-x-2", "countrycode": "Z002"},
        {"id": 5, "countryname": "e2e-x-5", "countrycode": "Z005"},
        {"id": 6, "countryname": "e2e-x-6", "countrycode": "Z999"},
    ]
    acked = {
        "e2e-x-1": (1, "Z001"),
        "e2e-x-2": (2, "Z002"),
        "e2e-x-4": (4, "Z004"),
        "e2e-x-6": (6, "Z006"),
    }
    audit = audit_writes(acked, ["e2e-x-5", "e2e-x-7"], rows).as_dict()
    assert audit["acknowledged_writes"] == 4
    assert audit["lost_writes"] == 1 and audit["samples"]["missing"] == ["e2e-x-4 (id 4)"]
    assert audit["duplicated_writes"] == 1
    assert audit["samples"]["duplicated"] == ["e2e-x-2: ids [2, 3]"]
    assert audit["wrong_content"] == 1
    assert audit["unknown_outcome_present"] == ["e2e-x-5"]
    assert audit["unknown_outcome_absent"] == ["e2e-x-7"]


def test_timeline_is_a_png(tmp_path):
    records = [
        rec(at=i * 0.05, served_by=f"r{i % 3}", version="1.0" if i < 100 else "2.0")
        for i in range(200)
    ]
    records.append(rec(at=5, status=None, error="x", node_status="502, 200"))
    records += [
        rec(at=6 + i * 0.5, kind="session", status=302, outcome=LOGGED_OUT) for i in range(5)
    ]
    records += [
        rec(at=6 + i * 0.5, kind="form", status=400, outcome=FORM_REFUSED) for i in range(5)
    ]
    steps = [{"name": "balance", "start": 0, "end": 5}, {"name": "update", "start": 5, "end": 10}]
    out = timeline_png(records, steps, 100, tmp_path / "t.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
