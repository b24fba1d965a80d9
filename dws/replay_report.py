"""The replay's figures: per-step statistics, the assertions on them, the write
audit and the timeline picture.

Pure functions over the probe's records (anything with the attributes of
`dws.probe.Record`), so they are unit-tested on made-up records.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Point 2 of the replay's promises: no request slower than this, except in
# the steps that lose a node; at most this share of requests retried by a
# proxy, except where replicas or nodes go away.
MAX_SECONDS = 5.0
# A write waits for its commit to reach the disk of the single database. While
# the lab's nodes start replicas (update, rollback) the three nodes' engines and
# the database share two cores and one disk, and an acknowledged write has
# been measured at 4.0-5.5 s there (6.9 s under other load), reads at most 3 s.
MAX_WRITE_SECONDS = 10.0
MAX_RETRIED_SHARE = 0.01
RETRIES_EXPECTED = ("heal", "drain", "node-crash")
# A node that dies never resets its connections: a request in flight to it
# waits for the front's 15 s read timeout, then another node answers.
# When every database container is killed at once, Swarm's DNS still lists the
# dead addresses until it notices; a connection to one waits for the service's
# 3 s connect timeout before the next is tried or the request answers 503.
SLOW_BOUND = {"node-crash": 18.0, "db-full-crash": 10.0}
# Steps where the database is away: its 503s are answers, not failures, as
# long as they are fast.
DB_AWAY = ("db-restart", "db-full-crash")
SAMPLES = 10
# An open-loop read is in time when answered correctly within this long of
# when it was due (the step's goodput_share).
IN_TIME_S = 1.0
# What a request of the probe's logged-in visitor found (Record.outcome): a
# page that needs a login shown with the user, or the login form instead;
# an open form answered with its validation errors, or refused by the CSRF
# check.
LOGGED_IN = "logged-in"
LOGGED_OUT = "logged-out"
FORM_INVALID = "invalid"
FORM_REFUSED = "refused"


def step_kind(step: str) -> str:
    """What a step does, without the node it does it to ("drain cloud02": "drain")."""
    return step.split(" ", 1)[0]


def bound(step: str) -> float:
    """No read of this step may take this long (seconds)."""
    return SLOW_BOUND.get(step_kind(step), MAX_SECONDS)


def write_bound(step: str) -> float:
    """No write of this step may take this long (seconds)."""
    return max(bound(step), MAX_WRITE_SECONDS)


def attempts(upstream_status: str | None) -> int:
    """How many upstream attempts nginx's `$upstream_status` lists (0: unknown).

    Attempts are separated by ", " (the next server) and " : " (an internal
    redirect to another upstream group).
    """
    if not upstream_status:
        return 0
    return len([part for part in re.split(r"[,:]", upstream_status) if part.strip()])


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank q-th percentile (0 < q <= 100) of sorted `values`."""
    if not values:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(values)))
    return values[rank - 1]


def sample(rec: Any, t0: float) -> dict[str, Any]:
    """What the report shows of one request."""
    return {
        "at": round(rec.started - t0, 2),
        "kind": rec.kind,
        "status": rec.status,
        "seconds": round(rec.seconds, 3),
        "error": rec.error,
        "front": rec.front_status,
        "node": rec.node_status,
        "served_by": rec.served_by,
        "request_id": rec.request_id,
    }


def client_visible_failures(records: Iterable[Any], step: str) -> list[Any]:
    """Requests whose failure reached the client.

    A write attempt whose outcome was unknown and that a repeat with the same
    Idempotency-Key settled is absorbed (counted as a client retry). While
    the database is away, a 503 answered within the step's bound is the promised
    answer, not a failure.
    """
    out = []
    for rec in records:
        if not rec.failed or rec.settled_by_retry:
            continue
        if step_kind(step) in DB_AWAY and rec.status == 503 and rec.seconds < bound(step):
            continue
        out.append(rec)
    return out


def retry_figures(records: Sequence[Any]) -> dict[str, Any]:
    """Requests a proxy retried (the front, a node's nginx, either) and their share."""
    front = sum(r.front_attempts > 1 for r in records)
    node = sum(r.node_attempts > 1 for r in records)
    retried = sum(r.front_attempts > 1 or r.node_attempts > 1 for r in records)
    return {
        "retried_front": front,
        "retried_node": node,
        "retried": retried,
        "retried_share": round(retried / len(records), 4) if records else 0.0,
    }


def latency_figures(records: Sequence[Any]) -> dict[str, float]:
    """p50, p99 and the slowest request, read and write (ms)."""
    times = sorted(r.seconds for r in records)
    reads = [r.seconds for r in records if r.kind != "write"]
    writes = [r.seconds for r in records if r.kind == "write"]
    return {
        "p50_ms": round(percentile(times, 50) * 1000, 1),
        "p99_ms": round(percentile(times, 99) * 1000, 1),
        "max_ms": round(times[-1] * 1000, 1) if times else 0.0,
        "max_read_ms": round(max(reads, default=0.0) * 1000, 1),
        "max_write_ms": round(max(writes, default=0.0) * 1000, 1),
    }


def in_progress(records: Iterable[Any]) -> list[Any]:
    """Write attempts answered 409 "request in progress": another attempt with
    the same key still held it (e.g. one in flight on a node that died)."""
    return [r for r in records if r.kind == "write" and r.status == 409]


def visitor_figures(records: Sequence[Any]) -> dict[str, int]:
    """The logged-in visitor's figures: its checks that it is still logged
    in and its posts of an open form, the times it found itself logged out
    (a login-required page, or the form, answered with the login form) and
    the forms the CSRF check refused. Records of other traffic have no
    `outcome`."""
    kinds = Counter(r.kind for r in records)
    outcomes = Counter(getattr(r, "outcome", None) for r in records)
    return {
        "session_checks": kinds["session"],
        "form_posts": kinds["form"],
        "logouts": outcomes[LOGGED_OUT],
        "forms_refused": outcomes[FORM_REFUSED],
    }


def open_loop_figures(records: Sequence[Any]) -> dict[str, Any]:
    """An open-loop step's offered reads: how many, how many were answered
    correctly within IN_TIME_S of when they were due (the goodput), and the
    longest a read waited for a free client worker ({} for closed loop)."""
    offered = [r for r in records if getattr(r, "scheduled", False)]
    if not offered:
        return {}
    in_time = sum(not r.failed and r.seconds <= IN_TIME_S for r in offered)
    return {
        "offered": len(offered),
        "completed_in_time": in_time,
        "goodput_share": round(in_time / len(offered), 4),
        "max_queued_ms": round(max(r.queued for r in offered) * 1000, 1),
    }


def step_stats(step: str, records: Sequence[Any], t0: float, seconds: float) -> dict[str, Any]:
    """The report's figures for one step's records.

    A 409 "request in progress" is the service telling the writer to repeat
    later; a repeat that then settles the write absorbs it like any other
    unknown outcome (`in_progress_409` counts them; `in_progress_409_failed`
    those the writer gave up on, which are failures too).
    """
    failures = client_visible_failures(records, step)
    slowest = sorted(records, key=lambda r: r.seconds, reverse=True)[:SAMPLES]
    waiting = in_progress(records)
    return {
        "requests": len(records),
        "requests_per_second": round(len(records) / seconds, 1) if seconds > 0 else 0.0,
        "by_kind": dict(sorted(Counter(r.kind for r in records).items())),
        "failures": len(failures),
        "answered_503": sum(r.status == 503 for r in records),
        **retry_figures(records),
        "client_retried_writes": sum(r.settled_by_retry for r in records),
        "client_reconnects": sum(getattr(r, "reconnected", False) for r in records),
        "in_progress_409": len(waiting),
        "in_progress_409_failed": sum(not r.settled_by_retry for r in waiting),
        **visitor_figures(records),
        **latency_figures(records),
        **open_loop_figures(records),
        "slowest": [sample(r, t0) for r in slowest],
        "failed": [sample(r, t0) for r in failures[:SAMPLES]],
    }


def write_figures(
    records: Iterable[Any], settled_by_repeat: int, settled_after_last_step: int
) -> dict[str, Any]:
    """How the writer settled its writes, for the report's `writes`:
    `settled_by_repeat` writes needed a repeat with their key, of which
    `settled_after_last_step` only once the last step was over (the traffic
    let them repeat for up to their retry window before it stopped);
    `in_progress_409` attempts were answered "request in progress"."""
    return {
        "settled_by_repeat": settled_by_repeat,
        "settled_after_last_step": settled_after_last_step,
        "in_progress_409": len(in_progress(records)),
    }


def violations(step: str, stats: dict[str, Any]) -> list[str]:
    """What breaks the replay's promises in one step's figures."""
    out = []
    if stats["failures"]:
        out.append(f"{step}: {stats['failures']} client-visible failures")
    slowest = bound(step)
    if stats["max_read_ms"] >= slowest * 1000:
        out.append(f"{step}: slowest read {stats['max_read_ms']:.0f} ms (bound {slowest} s)")
    slowest_write = write_bound(step)
    if stats["max_write_ms"] >= slowest_write * 1000:
        out.append(
            f"{step}: slowest write {stats['max_write_ms']:.0f} ms (bound {slowest_write} s)"
        )
    if step_kind(step) not in RETRIES_EXPECTED and stats["retried_share"] > MAX_RETRIED_SHARE:
        out.append(
            f"{step}: {stats['retried']} of {stats['requests']} requests retried by a proxy "
            f"(bound {MAX_RETRIED_SHARE:.0%})"
        )
    if stats.get("logouts"):
        out.append(f"{step}: {stats['logouts']} logouts of the logged-in visitor")
    if stats.get("forms_refused"):
        out.append(f"{step}: {stats['forms_refused']} open forms refused by the CSRF check")
    return out


@dataclass
class Audit:
    """What became of the writes, checked against the database after the run."""

    acknowledged: int = 0
    missing: list[str] = field(default_factory=list)
    wrong_content: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    unknown_present: list[str] = field(default_factory=list)
    unknown_absent: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "acknowledged_writes": self.acknowledged,
            "lost_writes": len(self.missing),
            "wrong_content": len(self.wrong_content),
            "duplicated_writes": len(self.duplicated),
            "unknown_outcome_present": self.unknown_present,
            "unknown_outcome_absent": self.unknown_absent,
            "samples": {
                "missing": self.missing[:SAMPLES],
                "wrong_content": self.wrong_content[:SAMPLES],
                "duplicated": self.duplicated[:SAMPLES],
            },
        }


def audit_writes(
    acknowledged: dict[str, tuple[int, str]],
    unknown: Iterable[str],
    rows: Iterable[dict[str, Any]],
) -> Audit:
    """Compare the writes the client saw with the rows tagged with the run.

    `acknowledged`: name -> (id, countrycode) of every 201; `unknown`: names
    whose outcome the client never learned; `rows`: every country row whose
    name carries the run's tag, as the API returns them.
    """
    by_name: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_name[row["countryname"]].append(row)
    audit = Audit(acknowledged=len(acknowledged))
    for name, found in sorted(by_name.items()):
        if len(found) > 1:
            audit.duplicated.append(f"{name}: ids {sorted(r['id'] for r in found)}")
    for name, (row_id, code) in sorted(acknowledged.items()):
        found = by_name.get(name, [])
        if not any(r["id"] == row_id for r in found):
            audit.missing.append(f"{name} (id {row_id})")
        elif not any(r["id"] == row_id and r["countrycode"] == code for r in found):
            audit.wrong_content.append(f"{name} (id {row_id})")
    for name in sorted(set(unknown)):
        (audit.unknown_present if by_name.get(name) else audit.unknown_absent).append(name)
    return audit


def timeline_png(
    records: Sequence[Any], steps: Sequence[dict[str, Any]], t0: float, path: Path
) -> Path:
    """Draw the run: requests per second by version and by replica, failures
    and retries, latency; every step's start and end marked and named."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    end = max((r.started - t0 + r.seconds for r in records), default=1.0)
    width = int(math.ceil(end)) + 1
    seconds = list(range(width))

    def per_second(select) -> dict[Any, list[int]]:
        series: dict[Any, list[int]] = defaultdict(lambda: [0] * width)
        for rec in records:
            key = select(rec)
            if key is not None:
                series[key][int(rec.started - t0)] += 1
        return series

    fig, axes = plt.subplots(4, 1, figsize=(14, 12), sharex=True, constrained_layout=True)
    by_version = per_second(lambda r: r.version or "no answer")
    axes[0].stackplot(
        seconds,
        *by_version.values(),
        labels=[f"version {v}" if v != "no answer" else v for v in by_version],
    )
    axes[0].set_ylabel("requests / s")
    axes[0].set_title("requests per second by version (stacked)")
    axes[0].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")

    by_replica = per_second(lambda r: r.served_by)
    for replica, counts in sorted(by_replica.items()):
        axes[1].plot(seconds, counts, linewidth=0.8, label=replica)
    axes[1].set_ylabel("requests / s")
    axes[1].set_title(f"requests per second by replica ({len(by_replica)} replicas)")
    if len(by_replica) <= 16:
        axes[1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="x-small", ncol=2)

    failed = per_second(lambda r: "failed" if r.failed else None)["failed"]
    retried_front = per_second(lambda r: "f" if r.front_attempts > 1 else None)["f"]
    retried_node = per_second(lambda r: "n" if r.node_attempts > 1 else None)["n"]
    axes[2].bar(seconds, failed, width=1.0, color="tab:red", label="failed or 5xx")
    axes[2].plot(seconds, retried_front, color="tab:orange", label="retried by the front")
    axes[2].plot(seconds, retried_node, color="tab:purple", label="retried by a node's nginx")
    axes[2].set_ylabel("requests / s")
    axes[2].set_title("failures and proxy retries")
    axes[2].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")

    latency: dict[int, list[float]] = defaultdict(list)
    for rec in records:
        latency[int(rec.started - t0)].append(rec.seconds * 1000)
    xs = sorted(latency)
    values = [sorted(latency[x]) for x in xs]
    axes[3].plot(xs, [percentile(v, 50) for v in values], label="p50", linewidth=0.8)
    axes[3].plot(xs, [percentile(v, 99) for v in values], label="p99", linewidth=0.8)
    axes[3].plot(xs, [v[-1] for v in values], label="max", linewidth=0.8)
    axes[3].axhline(MAX_SECONDS * 1000, color="grey", linestyle=":", label=f"{MAX_SECONDS:.0f} s")
    axes[3].set_yscale("log")
    axes[3].set_ylabel("ms (log)")
    axes[3].set_xlabel("seconds since the probe started")
    axes[3].set_title("latency per second of start")
    axes[3].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")

    for i, step in enumerate(steps):
        # The first step (deploy) began before the probe: drawn from 0.
        start, stop = max(0.0, step["start"]), step["end"]
        for ax in axes:
            ax.axvspan(start, stop, color="0.9" if i % 2 else "0.96", zorder=0)
            ax.axvline(start, color="0.6", linewidth=0.6)
        axes[0].annotate(
            step["name"],
            xy=(start, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(2, -4),
            textcoords="offset points",
            fontsize="small",
            rotation=90,
            va="top",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
