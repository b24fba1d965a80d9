#!/usr/bin/env python3
"""Benchmark of the production request path: `dws bench [--quick] [--json PATH]`.

It starts, on loopback, what the stack runs: nginx with the project's config
(services/nginx/, only the upstream adapted to loopback, see `nginx_config`),
three bootservice instances under gunicorn with the production config module
and stack.yml's settings of the request path (STACK_SETTINGS: 2 workers per
instance, as per replica), and MariaDB initialised from services/mysql/.
Beside bootservice, behind the same nginx and under the same gunicorn
settings, it runs `hello` (a minimal Flask app: the framework's ceiling) and
`peer` (plain Flask + SQLAlchemy + PyMySQL doing one primary-key lookup: what
a user would write without this project). wrk drives each target from its
own process at 32 connections.

It prints a table (requests/s, p50, p99, errors, ratios to hello and peer,
the CPU each request cost in the app, nginx and MariaDB, and the round trips
it cost the database, from MariaDB's own counters), the gunicorn workers'
memory, and writes it all as JSON with --json:
{"targets": {"static": {"rps", "p50_ms", "p99_ms", "errors", ...}, ...},
 "memory": {...}, "settings": {...}, "machine": {...}, "goals": {...}},
and beside it the same figures as bars in a PNG (dws/bench_chart.py).

Absolute figures drift on a shared machine, so the targets run interleaved
in rounds (4 x 3 s after a 2 s warm-up each) and the report takes medians;
ratios within one run, and CPU per request, are what to compare. `--quick`
runs two seconds per target and only checks that every target answered
without an error. Any error makes the exit status 1; no goal is enforced.
Everything started is stopped on exit, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

from dws.bench_report import add_ratios, combine, goals, machine_info, summarize
from dws.bench_stack import (
    BENCH,
    DB_COUNTERS,
    HEALTH_PATH,
    INSTANCES,
    Settings,
    Stack,
    running_stack,
)
from dws.util import DEMO_USER

WRK_SCRIPT = BENCH / "requests.lua"
CONNECTIONS = 32
WRK_THREADS = 2

# (target, app behind nginx, wrk mode, wrk argument)
TARGETS: tuple[tuple[str, str, str, str], ...] = (
    ("static", "bootservice", "path", HEALTH_PATH),
    ("hello", "hello", "path", "/hello"),
    ("peer", "peer", "lookup", "/peer/countries/"),
    ("lookup", "bootservice", "lookup", "/api/v1/countries/"),
    ("list", "bootservice", "list", ""),
    ("page", "bootservice", "path", "/countries"),
    ("mixed", "bootservice", "mixed", ":".join(DEMO_USER)),
)
TARGET_NAMES = tuple(t[0] for t in TARGETS)
# With --candidate-app, a changed bootservice runs beside the production one,
# behind the same nginx, and these targets are measured on it in the same
# interleaved rounds: a before/after comparison that the machine's noise
# cannot skew.
CANDIDATE_TARGETS = ("lookup", "list", "page", "mixed")


# --- load -------------------------------------------------------------------------


def run_wrk(url: str, mode: str, arg: str, seconds: float) -> dict:
    """One wrk run; returns the figures its script's done() printed."""
    duration = max(1, round(seconds))
    command = [
        "wrk",
        f"-t{WRK_THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{duration}s",
        # Slow answers on a busy machine belong in the latency figures; only
        # a request still unanswered after 10 s counts as an error.
        "--timeout",
        "10s",
        "-s",
        str(WRK_SCRIPT),
        url,
        "--",
        mode,
        arg,
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=duration + 30, check=False
    )
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            return json.loads(line.removeprefix("BENCH_RESULT "))
    raise RuntimeError(
        f"wrk gave no result (status {done.returncode}):\n{done.stdout}{done.stderr}"
    )


def measure(stack: Stack, app: str, mode: str, arg: str, seconds: float) -> dict:
    """One wrk run against `app`, with the CPU each part of the path spent."""
    db_before = stack.db_counters()
    before = stack.cpu()
    client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    entry = summarize(run_wrk(stack.url(app), mode, arg, seconds))
    client = resource.getrusage(resource.RUSAGE_CHILDREN)
    after = stack.cpu()
    db_after = stack.db_counters()
    entry["db_counts"] = {name: db_after[name] - db_before[name] for name in DB_COUNTERS}
    entry["cpu_s"] = {
        "app": after[app] - before[app],
        "nginx": after["nginx"] - before["nginx"],
        "mariadb": after["mariadb"] - before["mariadb"],
        "wrk": (client.ru_utime + client.ru_stime)
        - (client_before.ru_utime + client_before.ru_stime),
    }
    return entry


Selected = list[tuple[str, str, str, str]]


def selected_targets(args: argparse.Namespace, settings: Settings) -> Selected:
    """The targets asked for, then the candidate's copies of them, if any."""
    selected = [t for t in TARGETS if t[0] in args.targets]
    if settings.candidate_app:
        selected += [
            (f"{name}*", "candidate", mode, arg)
            for name, _app, mode, arg in TARGETS
            if name in CANDIDATE_TARGETS and name in args.targets
        ]
    return selected


def load(
    stack: Stack, selected: Selected, rounds: int, duration: float, warmup: float
) -> tuple[dict[str, list[dict]], dict[str, int]]:
    """Each target's rounds, interleaved, and the errors of its warm-up."""
    warm_errors: dict[str, int] = {}
    if warmup:
        # Workers import lazily and pools fill on first use; the warm-up
        # keeps that out of the figures (but its errors still count).
        for name, app, mode, arg in selected:
            print(f"bench: warm-up {name}: {warmup:g}s", file=sys.stderr)
            warm_errors[name] = summarize(run_wrk(stack.url(app), mode, arg, warmup))["errors"]
    slices: dict[str, list[dict]] = {t[0]: [] for t in selected}
    for n in range(rounds):
        for name, app, mode, arg in selected:
            print(
                f"bench: round {n + 1}/{rounds} {name}: {duration / rounds:g}s "
                f"at {CONNECTIONS} connections",
                file=sys.stderr,
            )
            slices[name].append(measure(stack, app, mode, arg, duration / rounds))
    return slices, warm_errors


def run(args: argparse.Namespace, settings: Settings) -> dict:
    """Start the path, load every selected target, collect the report."""
    duration = args.duration or (2 if args.quick else 12)
    rounds = 1 if args.quick else max(1, args.rounds)
    warmup = 0 if args.quick else args.warmup
    with running_stack(settings, keep=args.keep) as stack:
        slices, warm_errors = load(
            stack, selected_targets(args, settings), rounds, duration, warmup
        )
        # A request nginx gave up on when wrk stopped may still run in a
        # worker (a POST's password hash briefly takes 32 MB): let them end.
        time.sleep(2)
        rss = stack.worker_rss()
        workers = len(stack.apps["bootservice"][0].worker_pids())
    targets = {name: combine(parts) for name, parts in slices.items()}
    for name, errors in warm_errors.items():
        targets[name]["warmup_errors"] = errors
        targets[name]["errors"] += errors
    add_ratios(targets)
    rss_max = max(rss["bootservice"] + rss.get("candidate", []), default=None)
    return {
        "targets": targets,
        "memory": {
            "bootservice_worker_rss_mb_max": rss_max,
            "worker_rss_mb": {name: sorted(v) for name, v in rss.items()},
        },
        "settings": {
            "mode": "quick" if args.quick else "full",
            "duration_s": duration,
            "rounds": rounds,
            "warmup_s": warmup,
            "connections": CONNECTIONS,
            # wrk speaks HTTP/1.1 over TLS, each connection kept open.
            "scheme": "https",
            "wrk_threads": WRK_THREADS,
            "instances": INSTANCES,
            "workers_per_instance": workers,
            "web_concurrency": settings.workers,
            "stack_settings": settings.stack_env,
            "gunicorn_threads": settings.threads,
            "gunicorn_config": settings.gunicorn_config,
            "bootservice_app": settings.bootservice_app or "production",
            "candidate_app": settings.candidate_app,
            "upstream_keepalive": settings.upstream_keepalive,
        },
        "machine": machine_info(),
        "goals": goals(targets, rss_max),
    }


def terminate(signum: int, _frame: object) -> None:
    # Turn SIGTERM/SIGHUP into an exception so every `finally` stops servers.
    raise SystemExit(128 + signum)
