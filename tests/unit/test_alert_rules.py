"""The alert rules (services/prometheus/alerts.yml), their tests and their page.

promtool checks the rules and runs their unit tests (alerts.test.yml); the
rest is read here: every alert is labelled and annotated for an operator,
fires in at least one test case and stays quiet in another, TargetsAbsent
watches every job an alert reads, and docs/alerts.md lists exactly the
rules' alerts, with their severity, their hold and a runbook each.
promtool is the Debian package `prometheus` (tests/setup.sh); without it
these tests fail, they are never skipped.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "services" / "prometheus" / "alerts.yml"
RULE_TESTS = REPO / "services" / "prometheus" / "alerts.test.yml"
PAGE = REPO / "docs" / "alerts.md"
SEVERITIES = {"critical", "warning"}
SPAN = re.compile(r"`([^`]+)`")
JOB = re.compile(r"""\bjob\s*=\s*["']([\w-]+)["']""")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool")
    if exe is None:
        pytest.fail(
            "promtool is not installed: run tests/setup.sh "
            "(it installs the Debian package prometheus, which has promtool)",
            pytrace=False,
        )
    return subprocess.run(
        [exe, *args], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )


def output(done: subprocess.CompletedProcess[str]) -> str:
    command = " ".join(done.args[1:])
    return f"promtool {command} exited {done.returncode}:\n{done.stdout}{done.stderr}"


def alerts() -> dict[str, dict]:
    """The alerting rules by name."""
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"] if "alert" in rule}


def rule_test_cases() -> list[dict]:
    """Every alert_rule_test case of alerts.test.yml."""
    suite = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))
    return [case for test in suite["tests"] for case in test.get("alert_rule_test", [])]


def page_table() -> dict[str, list[str]]:
    """docs/alerts.md's table headed `alert`: the cells of each row by alert name."""
    rows: dict[str, list[str]] = {}
    header = None
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif header[0] == "alert" and not set(cells[0]) <= set("-: "):
            rows[cells[0].strip("`")] = cells
    return rows


def test_promtool_accepts_the_rules():
    done = promtool("check", "rules", str(RULES.relative_to(REPO)))
    assert done.returncode == 0, output(done)


def test_the_rules_pass_their_unit_tests():
    done = promtool("test", "rules", str(RULE_TESTS.relative_to(REPO)))
    assert done.returncode == 0, output(done)


def test_without_promtool_the_tests_fail_and_say_what_to_run(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match="run tests/setup.sh"):
        promtool("--version")


def test_every_alert_has_a_severity_a_summary_and_a_runbook():
    rules = alerts()
    assert rules
    problems = []
    for name, rule in rules.items():
        severity = rule.get("labels", {}).get("severity")
        if severity not in SEVERITIES:
            problems.append(f"{name}: severity {severity!r}, not one of {sorted(SEVERITIES)}")
        for key in ("summary", "runbook"):
            if not str(rule.get("annotations", {}).get(key, "")).strip():
                problems.append(f"{name}: no {key} annotation")
    assert not problems


def test_every_alert_fires_in_a_test_and_stays_quiet_in_another():
    fires, quiet = set(), set()
    for case in rule_test_cases():
        (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
    names = set(alerts())
    assert names - fires == set(), "alerts that fire in no test case"
    assert names - quiet == set(), "alerts with no test case where they stay quiet"
    # promtool passes a case of an alert that does not exist when it expects none.
    assert (fires | quiet) - names == set(), "test cases of alerts that do not exist"


def test_targets_absent_watches_every_job_an_alert_reads():
    # Every comparison of a job's series is silent once the job has no
    # target at all; TargetsAbsent is what fires then.
    rules = alerts()
    watched = set(JOB.findall(rules["TargetsAbsent"]["expr"]))
    read = {job for rule in rules.values() for job in JOB.findall(rule["expr"])}
    assert read, "no alert selects a job"
    assert read - watched == set(), "jobs whose absence no alert sees"


def test_the_alerts_page_lists_exactly_the_alerts_of_the_rules():
    rules = alerts()
    table = page_table()
    assert sorted(table) == sorted(rules)
    for name, cells in table.items():
        rule = rules[name]
        assert cells[1] == rule["labels"]["severity"], f"{name}: severity"
        hold = SPAN.findall(cells[-1])
        assert hold[:1] == [rule.get("for", "0s")], f"{name}: the for column"
    runbooks = set(re.findall(r"^\*\*(\w+)\.\*\*", PAGE.read_text(encoding="utf-8"), re.M))
    assert runbooks == set(rules), "a runbook paragraph (**Name.**) for each alert"
