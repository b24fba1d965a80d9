"""`dws flood`: other users' latency while passwords are guessed."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dws.commands.types import bounded

HELP = "latency of other users while passwords are guessed (nginx, gunicorn, MariaDB)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--seconds",
        type=bounded(0, 3600),
        default=10,
        help="sampling time per figure (default 10)",
    )
    p.add_argument("--json", type=Path, metavar="PATH", help="write the figures as JSON here")


def run(args: argparse.Namespace) -> int:
    from dws import bench_stack, flood

    with bench_stack.running_stack(bench_stack.Settings(apps=("bootservice",))) as stack:
        stack.workdir.chmod(0o711)
        report = flood.measure(stack, args.seconds)
    print(f"{'while':<12} {'healthz p50':>12} {'p90':>8} {'countries p50':>14} {'p90':>8}  guesses")
    for mode, entry in report.items():
        guesses = entry.get("guesses", {})
        print(
            f"{mode:<12} {entry['healthz']['median_ms']:>12} {entry['healthz']['p90_ms']:>8} "
            f"{entry['countries']['median_ms']:>14} {entry['countries']['p90_ms']:>8}  "
            f"{guesses.get('guesses_per_s', '')} /s {guesses.get('statuses', '')}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    return 0
