"""The replays' runner on made-up steps and traffic: the steps run in order and
are timed, the report is written also when a step fails, and a failure or a
broken promise is a StepFailed with its figures on one line."""

from __future__ import annotations

import json

import pytest

from dws import steps as steps_mod
from dws.probe import Record
from dws.replay_run import Plan, Step
from dws.steps import StepFailed, check_promises, require, run_plan


class FakeTraffic:
    """The Traffic a runner needs, without a network: one record per step."""

    def __init__(self) -> None:
        self.run_id = "t"
        self.records: list[Record] = []
        self.acknowledged = {"e2e-t-1": (1, "Z001")}
        self.unknown: list[str] = []
        self.settled_by_repeat = 0
        self.settled_after_last_step = 0
        self.step = ""
        self.calls: list[str] = []
        self.started_at = 0.5

    def start(self) -> None:
        self.calls.append("start")

    def set_step(self, name: str) -> None:
        self.step = name

    def add(self, status: int = 200) -> None:
        self.records.append(Record(self.step, "read", status, "r1", "1.0", None, None, 1.0, 0.01))

    def finish(self) -> None:
        self.calls.append("finish")

    def stop(self) -> None:
        self.calls.append("stop")

    def of_step(self, step: str) -> list[Record]:
        return [r for r in self.records if r.step == step]

    def since(self, started: float) -> list[Record]:
        return list(self.records)


@pytest.fixture
def offline(monkeypatch):
    """The runner's calls to the lab replaced: no secrets to create, an audit
    that finds every acknowledged write, a stack removal that is noted."""
    removed = []
    monkeypatch.setattr(steps_mod.deploy_mod, "ensure_secrets", lambda lab: [])
    monkeypatch.setattr(
        steps_mod,
        "audit_run",
        lambda url, traffic: steps_mod.audit_writes(
            traffic.acknowledged,
            [],
            [{"id": 1, "countryname": "e2e-t-1", "countrycode": "Z001"}],
        ),
    )
    monkeypatch.setattr(steps_mod, "settle_into_step", lambda: None)
    return removed


class FakeLab:
    lb_url = "http://127.0.0.1:9"
    nodes: dict[str, str] = {}
    manager_host = "tcp://127.0.0.1:9"
    engine = "26"
    engine_version = "26.1.5+dfsg1"


def plan_of(tmp_path, traffic, *steps: Step, removed: list) -> Plan:
    return Plan(
        steps=steps,
        report=tmp_path / "replay.json",
        timeline=tmp_path / "timeline.png",
        traffic=lambda lab: traffic,
        clean_up=lambda lab: removed.append("stack"),
    )


def test_the_steps_run_in_order_and_the_report_has_each(tmp_path, offline):
    traffic = FakeTraffic()

    def first(run, row):
        run.start_traffic()
        traffic.add()
        row["figure"] = 1

    def second(run, row):
        traffic.add()

    plan = plan_of(tmp_path, traffic, Step("one", first), Step("two", second), removed=offline)
    report = run_plan(FakeLab(), plan)
    assert [s["name"] for s in report["steps"]] == ["one", "two"]
    assert report["steps"][0]["figure"] == 1 and report["steps"][1]["requests"] == 1
    assert traffic.calls == ["start", "finish", "stop"] and offline == ["stack"]
    assert report["writes"]["acknowledged_writes"] == 1
    assert report["writes"]["settled_after_last_step"] == 0
    written = json.loads(plan.report.read_text())
    assert written["violations"] == []
    assert written["lab"] == {"engine": "26", "engine_version": "26.1.5+dfsg1"}


def test_a_failed_step_still_writes_the_report_and_removes_the_stack(tmp_path, offline):
    traffic = FakeTraffic()

    def broken(run, row):
        run.start_traffic()
        require(False, "bootservice is not 3/3 before heal")

    plan = plan_of(tmp_path, traffic, Step("heal", broken), Step("never", broken), removed=offline)
    with pytest.raises(StepFailed, match="not 3/3 before heal") as failed:
        run_plan(FakeLab(), plan)
    assert failed.value.status == 9
    written = json.loads(plan.report.read_text())
    assert [s["name"] for s in written["steps"]] == ["heal"]
    assert "the writes were not audited (the run stopped early)" in written["violations"]
    assert traffic.calls == ["start", "stop"] and offline == ["stack"]


def test_a_broken_promise_is_one_line_with_the_figures(tmp_path):
    report = {
        "violations": ["node-crash: 14 client-visible failures", "lost writes: ['e2e-x-4']"],
        "requests": 1000,
        "failures": 14,
        "writes": {"acknowledged_writes": 10},
    }
    with pytest.raises(StepFailed) as failed:
        check_promises(report, tmp_path / "r.json")
    message = str(failed.value)
    assert "\n" not in message and "2 broken promise(s)" in message
    assert "14 client-visible failures" in message and "1000 requests, 14 failed" in message
