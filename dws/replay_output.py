"""The replay's report: build/reports/replay*.json, its timeline and the table printed.

`write_report(run)` assembles the report of a finished (or failed) `dws.replay_run.Run`
from its steps' rows, the traffic's records and the write audit; the
figures themselves come from dws.replay_report and dws.swarm_timing.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from dws import swarm_timing
from dws.deploy import BOOT
from dws.replay_report import (
    MAX_RETRIED_SHARE,
    MAX_SECONDS,
    MAX_WRITE_SECONDS,
    RETRIES_EXPECTED,
    SLOW_BOUND,
    Audit,
    step_stats,
    timeline_png,
    violations,
    write_figures,
)

if TYPE_CHECKING:
    from dws.replay_run import Run

# Left out of a step's own figures in the report (they come last, or not at all).
LAST = ("slowest", "failed")


def swarm_breakdowns(run: Run) -> dict[str, dict]:
    """Each step that ran a `docker` command (see steps.mark_command): what the
    swarm did after it, from the nodes' container events."""
    if run.events is None:
        return {}
    collected = run.events.snapshot()
    ready = run.events.ready_times(collected)
    served = swarm_timing.first_served(list(run.traffic.records), time.time() - time.monotonic())
    services = {step.name: step.timed_service for step in run.plan.steps}
    out = {}
    for row, span in zip(run.rows, run.spans, strict=True):
        if "command_at" in row:
            until = span.get("wall_end", swarm_timing.wall_clock())
            service = services[row["name"]]
            out[row["name"]] = swarm_timing.breakdown(
                collected, service, row["command_at"], until, ready, served
            )
    return out


def records_by_step(records) -> dict[str, list]:
    """The traffic's records grouped by the step they were sent in."""
    by_step: dict[str, list] = {}
    for rec in records:
        by_step.setdefault(rec.step, []).append(rec)
    return by_step


def step_row(
    row: dict, span: dict, stats: dict[str, Any], t0: float, breakdown: dict | None
) -> dict[str, Any]:
    """One step in the report: timing, traffic figures, the step's own figures,
    its swarm breakdown, then its slowest and failed requests."""
    out = {
        "name": row["name"],
        "seconds": row.get("seconds"),
        "start": round(span["start"] - t0, 1),
        "end": round(span["end"] - t0, 1),
    }
    out.update((k, v) for k, v in stats.items() if k not in LAST)
    out.update((k, v) for k, v in row.items() if k not in ("name", "seconds"))
    if breakdown is not None:
        out["swarm"] = breakdown
    out.update((k, stats[k]) for k in LAST)
    return out


def step_rows(run: Run, t0: float, breakdowns: dict[str, dict]) -> tuple[list[dict], list[str]]:
    """Every step's report row, and the promises its figures broke."""
    by_step = records_by_step(run.traffic.records)
    rows, problems = [], []
    for row, span in zip(run.rows, run.spans, strict=True):
        recs = by_step.get(row["name"], [])
        stats = step_stats(row["name"], recs, t0, span["end"] - span["start"])
        if recs:
            problems += violations(row["name"], stats)
        rows.append(step_row(row, span, stats, t0, breakdowns.get(row["name"])))
    return rows, problems


def audit_problems(audit: Audit | None) -> list[str]:
    """What the write audit says broke a promise."""
    if audit is None:
        return ["the writes were not audited (the run stopped early)"]
    found = (
        ("lost writes", audit.missing),
        ("writes with other content", audit.wrong_content),
        ("writes applied twice", audit.duplicated),
    )
    return [f"{what}: {names[:10]}" for what, names in found if names]


def writes_section(run: Run) -> dict[str, Any]:
    """The report's `writes`: the audit, and how the writer settled its writes."""
    traffic = run.traffic
    writes = (
        run.audit.as_dict() if run.audit else {"acknowledged_writes": len(traffic.acknowledged)}
    )
    writes.update(
        write_figures(
            traffic.records,
            settled_by_repeat=traffic.settled_by_repeat,
            settled_after_last_step=traffic.settled_after_last_step,
        )
    )
    return writes


def bounds() -> dict[str, Any]:
    """The bounds the figures were checked against."""
    return {
        "max_seconds": MAX_SECONDS,
        "max_write_seconds": MAX_WRITE_SECONDS,
        "max_seconds_by_step": SLOW_BOUND,
        "max_retried_share": MAX_RETRIED_SHARE,
        "retries_expected_in": list(RETRIES_EXPECTED),
    }


def build_report(run: Run) -> dict[str, Any]:
    """The whole report of a run (its `violations` list what broke a promise)."""
    breakdowns = swarm_breakdowns(run)
    t0 = run.traffic.started_at or time.monotonic()
    rows, problems = step_rows(run, t0, breakdowns)
    problems += audit_problems(run.audit)
    return {
        "steps": rows,
        "violations": problems,
        "requests": len(run.traffic.records),
        "requests_by_kind": dict(Counter(r.kind for r in run.traffic.records)),
        "failures": sum(r["failures"] for r in rows),
        "retried": sum(r["retried"] for r in rows),
        "logouts": sum(r["logouts"] for r in rows),
        "forms_refused": sum(r["forms_refused"] for r in rows),
        "writes": writes_section(run),
        "total_seconds": round(time.monotonic() - run.started, 1),
        "swarm_timing": {
            # A bootservice replica's start-up; the database's is in its steps.
            "summary": swarm_timing.summary(breakdowns, BOOT),
            "inconsistencies": [
                p for name, b in breakdowns.items() for p in swarm_timing.inconsistencies(name, b)
            ],
        },
        "bounds": bounds(),
        # The swarm it ran on: the nodes' Docker Engine (the e2e tier adds
        # the lab commands' wall times here).
        "lab": {"engine": run.lab.engine, "engine_version": run.lab.engine_version},
        # How the reads were offered: open-loop at a fixed rate, or paced
        # readers that wait for each answer.
        "load": getattr(run.traffic, "load", {"mode": "closed"}),
        **run.extra,
    }


def print_table(report: dict[str, Any]) -> None:
    """The steps' figures, one line each."""
    print(
        f"\n{'step':<14}{'requests':>9}{'rps':>6}{'failed':>7}{'503':>6}{'retried':>8}"
        f"{'front':>6}{'node':>5}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'seconds':>8}"
    )
    for r in report["steps"]:
        print(
            f"{r['name']:<14}{r['requests']:>9}{r['requests_per_second']:>6}{r['failures']:>7}"
            f"{r['answered_503']:>6}{r['retried']:>8}{r['retried_front']:>6}{r['retried_node']:>5}"
            f"{r['p50_ms']:>8}{r['p99_ms']:>8}{r['max_ms']:>8}{r['seconds'] or 0:>8}"
        )


def write_report(run: Run) -> dict[str, Any]:
    """Print the table, write the report (plan.report) and the timeline next to
    it; return the report."""
    report = build_report(run)
    path, timeline = run.plan.report, run.plan.timeline
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    if run.traffic.records:
        t0 = run.traffic.started_at or time.monotonic()
        spans = [
            {"name": s["name"], "start": s["start"] - t0, "end": s["end"] - t0} for s in run.spans
        ]
        timeline_png(run.traffic.records, spans, t0, timeline)
    print_table(report)
    breakdowns = {r["name"]: r["swarm"] for r in report["steps"] if "swarm" in r}
    if breakdowns:
        print(f"\nwhere the swarm's time goes\n{swarm_timing.table(breakdowns)}")
        print(f"per task: {json.dumps(report['swarm_timing']['summary'])}")
    writes = {k: v for k, v in report["writes"].items() if k != "samples"}
    print(
        f"writes: {json.dumps(writes)}; total {report['total_seconds']} s; "
        f"report: {path}, timeline: {timeline}",
        flush=True,
    )
    for problem in report["violations"]:
        print(f"VIOLATION: {problem}", flush=True)
    return report
