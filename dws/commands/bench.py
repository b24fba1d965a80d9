"""`dws bench`: the benchmark of the request path on loopback."""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
from pathlib import Path

from dws import bench, bench_report, bench_stack
from dws.commands.types import at_least_zero, bounded, count, positive
from dws.util import DwsError, UsageError

HELP = "the benchmark of the request path (nginx, gunicorn, MariaDB on loopback)"
_threads = bounded(1, 64, int)


def _targets(text: str) -> list[str]:
    names = [t for t in text.split(",") if t]
    unknown = sorted(set(names) - set(bench.TARGET_NAMES))
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown target(s) {', '.join(unknown) or text!r}; "
            f"known: {','.join(bench.TARGET_NAMES)}"
        )
    return names


def _env(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"wants NAME=VALUE, not {text!r}")
    return name, value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="~2 s per target, only check for errors")
    p.add_argument(
        "--json",
        type=Path,
        metavar="PATH",
        help="write the report as JSON here, and its chart beside it as .png",
    )
    p.add_argument("--duration", type=positive, help="seconds per target (default 12, quick 2)")
    p.add_argument(
        "--rounds", type=count, default=4, help="interleaved rounds per target (full; default 4)"
    )
    p.add_argument(
        "--warmup",
        type=bounded(-1e-9, 3600),
        default=2,
        help="warm-up seconds per target (full; default 2)",
    )
    p.add_argument("--keep", action="store_true", help="keep the run's directory (logs)")
    p.add_argument(
        "--targets",
        type=_targets,
        default=list(bench.TARGET_NAMES),
        help=f"comma-separated subset of {','.join(bench.TARGET_NAMES)} (default: all)",
    )
    x = p.add_argument_group("experiments (the defaults are the production configuration)")
    x.add_argument("--workers", type=count, help="WEB_CONCURRENCY for every gunicorn instance")
    x.add_argument("--threads", type=_threads, help="GUNICORN_THREADS (>1: gthread workers)")
    x.add_argument(
        "--gunicorn-config",
        default=bench_stack.PRODUCTION_CONFIG,
        help="gunicorn --config value (default: the production configuration)",
    )
    x.add_argument("--bootservice-app", help="another WSGI app spec for the bootservice target")
    x.add_argument(
        "--candidate-app",
        help="a changed bootservice (WSGI app spec) measured beside production as lookup*, ...",
    )
    x.add_argument("--pythonpath", action="append", default=[], help="extra import directory")
    x.add_argument(
        "--upstream-keepalive",
        type=at_least_zero,
        default=0,
        help="nginx upstream keepalive connections (default 0)",
    )
    x.add_argument(
        "--env",
        action="append",
        type=_env,
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for the services",
    )


def _write(report: dict, path: Path) -> Path:
    # Imported here: matplotlib is only needed for the picture.
    from dws.bench_chart import chart_path, write_chart

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n")
        return write_chart(report, chart_path(path))
    except OSError as exc:
        raise DwsError(f"cannot write {exc.filename}: {exc.strerror}") from None


def _print_summary(report: dict, quick: bool) -> None:
    print(bench_report.table(report["targets"]), flush=True)
    for name, sizes in report["memory"]["worker_rss_mb"].items():
        print(f"{name} workers RSS: max {max(sizes, default=0):.1f} MB ({len(sizes)} workers)")
    m = report["machine"]
    print(f"{m['date']}, {m['cpu_count']} x {m['cpu_model']}, Python {m['python']}")
    if not quick:
        for goal, met in report["goals"].items():
            print(f"{'met    ' if met else 'NOT MET'} {goal}")


def run(args: argparse.Namespace) -> int:
    missing = [tool for tool in ("nginx", "wrk", "mariadbd") if not shutil.which(tool)]
    if missing:
        raise UsageError(f"missing {', '.join(missing)} (run tests/setup.sh)")
    signal.signal(signal.SIGTERM, bench.terminate)
    signal.signal(signal.SIGHUP, bench.terminate)
    settings = bench_stack.Settings(
        workers=args.workers,
        threads=args.threads,
        gunicorn_config=args.gunicorn_config,
        bootservice_app=args.bootservice_app,
        candidate_app=args.candidate_app,
        pythonpath=tuple(str(Path(p).resolve()) for p in args.pythonpath),
        upstream_keepalive=args.upstream_keepalive,
        extra_env=dict(args.env),
    )
    report = bench.run(args, settings)
    # The table first: whatever happens to the file, the figures are on screen.
    _print_summary(report, args.quick)
    if args.json:
        chart = _write(report, args.json)
        print(f"report: {args.json}")
        print(f"chart: {chart}")
    failed = [name for name, t in report["targets"].items() if t["errors"] or not t["requests"]]
    if failed:
        print(f"dws bench: errors or no answers on: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
