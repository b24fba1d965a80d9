"""`dws replay`: the tutorial replayed under continuous traffic."""

from __future__ import annotations

import argparse

HELP = "the tutorial replayed with continuous traffic; report in build/reports/"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db-nodes",
        type=int,
        choices=(1, 3),
        default=1,
        help="3: the database as a three-node Galera cluster, each node drained, the "
        "database restarted node by node, a node killed (report: replay-ha.json)",
    )
    p.add_argument(
        "--open-rate",
        type=_rate,
        default=0.0,
        metavar="RPS",
        help="send the reads open-loop, due at this many a second whatever the answers, "
        "each timed from when it was due; auto: half the stack's measured capacity, at "
        "least 150 (default: paced readers that wait for answers)",
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="leave the stack (and a lab this command brought up) running",
    )


def _rate(raw: str) -> float | str:
    if raw == "auto":
        return raw
    try:
        rate = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {raw!r}") from None
    if not 1 <= rate <= 1000:
        raise argparse.ArgumentTypeError(f"between 1 and 1000 requests a second, not {raw}")
    return rate


def run(args: argparse.Namespace) -> int:
    from dws import lab, replay, replay_ha

    mode = replay_ha if args.db_nodes == 3 else replay
    report_path = replay_ha.REPORT_HA if args.db_nodes == 3 else replay.REPORT
    timeline = replay_ha.TIMELINE_HA if args.db_nodes == 3 else replay.TIMELINE
    created = not lab.STATE_FILE.exists()
    the_lab = lab.up(lb_port=0, http_port=0) if created else lab.Lab.load()
    try:
        report = mode.run(the_lab, remove_stack=not args.keep, open_rate=args.open_rate)
    finally:
        if created and not args.keep:
            lab.down()
    writes = report["writes"]
    print(
        f"replay: {report['requests']} requests, {report['failures']} failed, "
        f"{report['retried']} retried by a proxy; {writes['acknowledged_writes']} writes, "
        f"{writes['lost_writes']} lost, {writes['duplicated_writes']} doubled; "
        f"report: {report_path}, timeline: {timeline}"
    )
    return 0
