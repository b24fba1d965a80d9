"""The benchmark's figures: wrk's output summarised, rounds combined, ratios
to the references, the machine, the goals and the text table."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path
from statistics import median

from dws.bench_stack import DB_COUNTERS


def summarize(raw: dict) -> dict:
    """wrk's figures as the report's per-target entry."""
    socket_errors = sum(raw[k] for k in ("connect", "read", "write", "timeout"))
    seconds = raw["duration_us"] / 1e6
    return {
        "rps": round(raw["requests"] / seconds, 1) if seconds else 0.0,
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "errors": raw["non2xx"] + socket_errors,
        "requests": raw["requests"],
        "p90_ms": round(raw["p90_us"] / 1000, 2),
        "max_ms": round(raw["max_us"] / 1000, 2),
        "non2xx": raw["non2xx"],
        "socket_errors": socket_errors,
        # wrk's socket errors by kind; "timeout" is wrk's 2 s per request.
        "error_kinds": {k: raw[k] for k in ("connect", "read", "write", "timeout", "non2xx")},
    }


def add_ratios(targets: dict[str, dict]) -> None:
    """Each target's requests/s as a multiple of hello's and peer's.

    Also `cpu_x_hello` / `cpu_x_peer`: the reference's server CPU per request
    over this target's, the throughput ratio to expect when CPU is the limit;
    it moves far less from run to run than the req/s ratio. And
    `p99_x_hello`: the target's p99 latency over hello's (lower is better).
    """
    hello_p99 = targets.get("hello", {}).get("p99_ms")
    for entry in targets.values():
        entry["p99_x_hello"] = round(entry["p99_ms"] / hello_p99, 2) if hello_p99 else None
    for ref in ("hello", "peer"):
        base = targets.get(ref, {}).get("rps")
        base_cpu = targets.get(ref, {}).get("cpu_ms_per_request", {}).get("server")
        for entry in targets.values():
            entry[f"x_{ref}"] = round(entry["rps"] / base, 2) if base else None
            cpu = entry.get("cpu_ms_per_request", {}).get("server")
            entry[f"cpu_x_{ref}"] = round(base_cpu / cpu, 2) if base_cpu and cpu else None


def _version(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except OSError:
        return "not found"
    return (done.stdout + done.stderr).strip().splitlines()[0]


def machine_info() -> dict:
    """What the figures were measured on."""
    model = "unknown"
    try:
        match = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        model = match.group(1) if match else model
    except OSError:
        pass
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count()
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cpu_count": cpus,
        "cpu_model": model,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "nginx": _version(["nginx", "-v"]),
        "mariadb": _version(["mariadbd", "--version"]),
        "wrk": _version(["wrk", "--version"]),
        **{pkg: metadata.version(pkg) for pkg in ("flask", "gunicorn", "sqlalchemy", "pymysql")},
    }


def goals(targets: dict[str, dict], rss_max: float | None) -> dict[str, bool]:
    """The project's performance targets, each met or not (informational, never a failure)."""
    out: dict[str, bool] = {}
    for star in ("", "*"):  # production, then the candidate if one ran
        lookup, page = targets.get("lookup" + star), targets.get("page" + star)
        if lookup:
            out[f"lookup{star} >= 2.0x peer"] = (lookup["x_peer"] or 0) >= 2.0
            out[f"lookup{star} >= 0.9x hello"] = (lookup["x_hello"] or 0) >= 0.9
            out[f"lookup{star} CPU per request >= 0.9x hello"] = (lookup["cpu_x_hello"] or 0) >= 0.9
            out[f"lookup{star} p99 <= 1.3x hello's p99"] = (lookup["p99_x_hello"] or 99) <= 1.3
            out[f"lookup{star} p99 <= 20 ms"] = lookup["p99_ms"] <= 20
        if page:
            out[f"page{star} >= 0.5x hello"] = (page["x_hello"] or 0) >= 0.5
    out["no errors"] = all(t["errors"] == 0 for t in targets.values())
    if rss_max is not None:
        out["worker RSS <= 80 MB"] = rss_max <= 80
    return out


def table(targets: dict[str, dict]) -> str:
    """The per-target figures as a text table."""
    head = (
        f"{'target':<8} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
        f"{'x hello':>7} {'x peer':>6} {'p99 x hello':>11} | {'cpu ms/req':>10} {'app':>5} "
        f"{'nginx':>5} {'db':>5} {'x hello':>7} {'x peer':>6} | {'db trips':>8}"
    )
    left, middle, _ = head.split("|")
    groups = (
        f"{'through nginx, wrk at 32 connections':<{len(left)}}|"
        f"{' CPU per request, server side':<{len(middle)}}| per req"
    )
    lines = [groups, head, "-" * len(head)]
    for name, t in targets.items():
        cpu = t.get("cpu_ms_per_request") or {}
        trips = (t.get("db_per_request") or {}).get("round_trips", 0)
        lines.append(
            f"{name:<8} {t['rps']:>8.0f} {t['p50_ms']:>7.1f} {t['p99_ms']:>7.1f} "
            f"{t['errors']:>6} {t['x_hello'] or 0:>7.2f} {t['x_peer'] or 0:>6.2f} "
            f"{t.get('p99_x_hello') or 0:>11.2f} | "
            f"{cpu.get('server', 0):>10.3f} {cpu.get('app', 0):>5.2f} "
            f"{cpu.get('nginx', 0):>5.2f} {cpu.get('mariadb', 0):>5.2f} "
            f"{t['cpu_x_hello'] or 0:>7.2f} {t['cpu_x_peer'] or 0:>6.2f} | {trips:>8.2f}"
        )
    return "\n".join(lines)


def combine(slices: list[dict]) -> dict:
    """One target's rounds as one entry: medians of the figures, sums of counts.

    Other work on a shared machine comes and goes; interleaving the targets
    in rounds and taking medians keeps a burst from landing on one target.
    """
    entry = {key: median(s[key] for s in slices) for key in ("rps", "p50_ms", "p90_ms", "p99_ms")}
    for key in ("errors", "requests", "non2xx", "socket_errors"):
        entry[key] = sum(s[key] for s in slices)
    entry["max_ms"] = max(s["max_ms"] for s in slices)
    entry["error_kinds"] = {
        kind: sum(s["error_kinds"][kind] for s in slices) for kind in slices[0]["error_kinds"]
    }
    # CPU per request over all rounds: it moves much less than req/s with
    # what else the machine runs, and shows where a target's time goes.
    requests = entry["requests"] or 1
    entry["cpu_ms_per_request"] = {
        part: round(1000 * sum(s["cpu_s"][part] for s in slices) / requests, 3)
        for part in ("app", "nginx", "mariadb", "wrk")
    }
    entry["cpu_ms_per_request"]["server"] = round(
        sum(entry["cpu_ms_per_request"][p] for p in ("app", "nginx", "mariadb")), 3
    )
    # What each request asked of the database, from MariaDB's own counters
    # (a request of nginx's or hello's asks nothing: about 0).
    counts = {name: sum(s["db_counts"][name] for s in slices) for name in DB_COUNTERS}
    entry["db_per_request"] = {
        "statements": round(counts["Questions"] / requests, 2),
        "pings": round(counts["Com_admin_commands"] / requests, 2),
        "rollbacks": round(counts["Com_rollback"] / requests, 2),
        "connections": round(counts["Connections"] / requests, 3),
    }
    entry["db_per_request"]["round_trips"] = round(
        entry["db_per_request"]["statements"] + entry["db_per_request"]["pings"], 2
    )
    entry["rounds"] = [{k: s[k] for k in ("rps", "p50_ms", "p99_ms", "errors")} for s in slices]
    return entry
