"""`dws watch`: the live view of the lab."""

from __future__ import annotations

import argparse

from dws.commands.types import bounded

HELP = "live view: nodes, tasks and who answers through the front (q to quit)"
_refresh = bounded(0, 1000)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--interval", type=_refresh, default=1.0, help="seconds between refreshes (default 1)"
    )
    p.add_argument(
        "--rate",
        type=_refresh,
        default=10.0,
        help="requests per second sent through the front load balancer (default 10)",
    )
    p.add_argument("--url", help="front URL to send traffic to (default: the lab's)")


def run(args: argparse.Namespace) -> int:
    from dws import lab, watch

    watch.run(lab.Lab.load(), interval=args.interval, rate=args.rate, url=args.url)
    return 0
