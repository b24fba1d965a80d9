"""The swarm-time breakdown on made-up container events: what each step and
each task are made of, in seconds after the command and after the start."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from dws.deploy import BOOT
from dws.swarm_timing import (
    Event,
    breakdown,
    first_ready,
    first_served,
    inconsistencies,
    parse_event,
    parse_timestamp,
    summary,
    table,
    task_timing,
)

T0 = 1_800_000_000.0  # the step's command


def ev(container, at, action, node="cloud02", service=BOOT, image="r/myhub/bootservice:2.0-dws"):
    return Event(node, T0 + at, action, container, service, f"task-{container}", image)


def replica(container, start, ready_after, probes, healthy_after, **kw):
    """A container started at T0+start whose healthcheck probes ran at the
    given offsets after its start and which turned healthy at healthy_after."""
    events = [ev(container, start, "start", **kw)]
    events += [ev(container, start + p, "exec_start: python /app/h.py", **kw) for p in probes]
    events.append(ev(container, start + healthy_after, "health_status: healthy", **kw))
    return events, {container: T0 + start + ready_after}


def test_a_docker_events_line_becomes_an_event():
    line = json.dumps(
        {
            "status": "health_status: healthy",
            "id": "c0ffee",
            "Type": "container",
            "Action": "health_status: healthy",
            "Actor": {
                "ID": "c0ffee",
                "Attributes": {
                    "com.docker.swarm.service.name": BOOT,
                    "com.docker.swarm.task.id": "t1",
                    "image": "tcr:5000/myhub/bootservice:1.0-dws@sha256:ab",
                },
            },
            "time": 1_800_000_000,
            "timeNano": 1_800_000_000_250_000_000,
        }
    )
    e = parse_event(line, "cloud03")
    assert e is not None and e.at == pytest.approx(1_800_000_000.25)
    assert (e.node, e.action, e.container, e.service, e.task) == (
        "cloud03",
        "health_status: healthy",
        "c0ffee",
        BOOT,
        "t1",
    )
    # Not a swarm task's container, not a container, not JSON: ignored.
    other = json.loads(line)
    other["Actor"]["Attributes"].pop("com.docker.swarm.service.name")
    assert parse_event(json.dumps(other), "cloud03") is None
    assert parse_event(json.dumps({"Type": "network", "Actor": {}}), "cloud03") is None
    assert parse_event("not json", "cloud03") is None


def test_docker_timestamps_and_the_ready_line():
    assert parse_timestamp("2027-01-15T08:00:00.123456789Z") == 1_800_000_000.123456789
    assert parse_timestamp("2027-01-15T09:00:00+01:00") == 1_800_000_000.0
    assert parse_timestamp("yesterday") is None
    logs = (
        "2027-01-15T07:59:59.5Z [1] [INFO] Booting worker with pid: 7\n"
        "2027-01-15T08:00:01.25Z [7] [INFO] worker ready (pid 7)\n"
        "2027-01-15T08:00:02Z [8] [INFO] worker ready (pid 8)\n"
    )
    assert first_ready(logs) == 1_800_000_001.25
    assert first_ready("2027-01-15T08:00:00Z [1] [INFO] Booting worker\n") is None


def test_a_task_from_start_to_healthy():
    events, ready = replica("c1", 1.0, 2.5, [5.0], 5.4)
    t = task_timing(events, ready["c1"])
    assert t["version"] == "2.0" and t["node"] == "cloud02"
    assert (t["ready_s"], t["first_probe_s"], t["healthy_s"]) == (2.5, 5.0, 5.4)
    assert t["probes_until_settled"] == 1 and t["unhealthy_s"] is None
    broken = [ev("b", 0, "start"), *(ev("b", s, "exec_start: x") for s in (5, 10, 15))]
    broken.append(ev("b", 15.2, "health_status: unhealthy"))
    t = task_timing(broken)
    assert t["healthy_s"] is None and t["unhealthy_s"] == 15.2
    assert t["probes_until_settled"] == 3 and t["ready_s"] is None


def test_an_update_step_from_command_to_old_tasks_gone():
    old = [ev("old1", -100, "start"), ev("old2", -100, "start")]
    new1, r1 = replica("n1", 1.0, 2.0, [5.0], 5.3)
    new2, r2 = replica("n2", 1.2, 2.1, [5.0, 10.0], 10.2)
    stops = [ev("old1", 8.0, "die"), ev("old2", 12.5, "die")]
    other_service = [ev("db", 3.0, "start", service="dws_mysql")]
    late = [ev("n3", 400, "start")]  # after the step
    b = breakdown(old + new1 + new2 + stops + other_service + late, BOOT, T0, T0 + 60, r1 | r2)
    assert b["new_tasks"] == 2 and b["old_tasks_stopped"] == 2
    assert (b["first_started_s"], b["first_healthy_s"], b["all_healthy_s"]) == (1.0, 6.3, 11.4)
    assert (b["first_old_stopped_s"], b["all_old_stopped_s"]) == (8.0, 12.5)
    assert [t["started_s"] for t in b["tasks"]] == [1.0, 1.2]
    assert [t["healthy_s"] for t in b["tasks"]] == [5.3, 10.2]
    assert inconsistencies("update", b) == []
    s = summary({"update": b})
    assert s["healthy_tasks"] == 2 and s["median_healthy_s"] == 7.75
    db_events = other_service + [ev("db", 9.0, "health_status: healthy", service="dws_mysql")]
    db = breakdown(db_events, "dws_mysql", T0, T0 + 60)
    assert summary({"update": b, "db-restart": db})["healthy_tasks"] == 3
    assert summary({"update": b, "db-restart": db}, BOOT)["healthy_tasks"] == 2
    assert s["median_wait_for_probe_s"] == 5.7  # (3.3 + 8.1) / 2
    text = table({"update": b})
    assert "update" in text.splitlines()[1] and "11.4" in text


def test_a_step_with_nothing_new_has_no_figures():
    b = breakdown([ev("x", -5, "start")], BOOT, T0, T0 + 10)
    assert b["new_tasks"] == 0 and b["first_started_s"] is None and b["all_healthy_s"] is None
    assert inconsistencies("scale", b) == []
    assert summary({"scale": b})["median_healthy_s"] is None
    assert "-" in table({"scale": b}).splitlines()[1]


def test_out_of_order_figures_are_reported():
    bad = {
        "first_started_s": 3.0,
        "first_healthy_s": 2.0,
        "all_healthy_s": 1.0,
        "tasks": [{"task": "t", "ready_s": 4.0, "first_probe_s": -1.0, "healthy_s": 3.0}],
    }
    problems = inconsistencies("heal", bad)
    assert any("healthy (2.0 s) before the first start" in p for p in problems)
    assert any("last task healthy before the first" in p for p in problems)
    assert any("first_probe_s" in p for p in problems)
    assert any("healthy before a worker was ready" in p for p in problems)


def test_first_answer_through_the_front_per_replica():
    @dataclass
    class Rec:
        served_by: str | None
        status: int | None
        started: float
        seconds: float

    records = [
        Rec("aaaaaaaaaaaa", 502, 10.0, 0.1),  # a proxy's error: not an answer
        Rec("aaaaaaaaaaaa", 200, 12.0, 0.5),
        Rec("aaaaaaaaaaaa", 200, 11.0, 0.2),
        Rec(None, None, 9.0, 3.0),
        Rec("bbbbbbbbbbbb", 404, 20.0, 0.1),
    ]
    served = first_served(records, wall_offset=T0)
    assert served == {"aaaaaaaaaaaa": T0 + 11.2, "bbbbbbbbbbbb": T0 + 20.1}
    # Matched to a task by the first 12 characters of its container id.
    cid = "aaaaaaaaaaaa" + "f" * 52
    events = [Event("cloud01", T0 + 5, "start", cid, BOOT, "t", "x/bootservice:1.0-dws")]
    events.append(Event("cloud01", T0 + 9, "health_status: healthy", cid, BOOT, "t", "x"))
    b = breakdown(events, BOOT, T0, T0 + 60, {cid: T0 + 7}, served)
    assert b["tasks"][0]["served_s"] == 6.2
    assert summary({"heal": b})["median_healthy_to_served_s"] == 2.2
    assert "6.2" in table({"heal": b}).splitlines()[1]


def test_startup_bench_variants_and_counters():
    from dws import startup_bench

    assert startup_bench.parse_variant("a=r/boot:1.0-dws+--health-interval=2s,--cpus=1") == (
        "a",
        ("r/boot:1.0-dws", ["--health-interval=2s", "--cpus=1"]),
    )
    assert startup_bench.parse_variant("b=img") == ("b", ("img", []))
    for bad in ("img", "=img", "a="):
        with pytest.raises(ValueError, match="NAME=IMAGE"):
            startup_bench.parse_variant(bad)
    assert startup_bench.container_cpu("0" * 64) is None
    assert startup_bench.engine_cpu() >= 0.0
