"""The `dws` command line (also `python -m dws`): one subcommand per tool.

Every failure is one line on stderr and an exit status of its own (see
EXIT_STATUSES, printed by `dws --help`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import NoReturn

from dws.db import db_nodes_arg
from dws.util import DwsError, UsageError

# Kept in step with the `status` of the DwsError subclasses.
EXIT_STATUSES = {
    0: "success",
    1: "any other failure",
    2: "bad arguments",
    3: "no Docker engine, or the docker CLI failed",
    4: "a lab operation failed",
    5: "the lab is not up",
    6: "the lab is already up",
    7: "the port is in use",
    8: "the deploy failed (build, push, stack deploy, convergence)",
    9: "a tutorial or replay step failed",
    10: "dws check: something the stack needs is missing",
    11: "dws check: the engine is not a swarm manager",
    130: "interrupted (Ctrl-C)",
}


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error and status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _epilog() -> str:
    return "exit statuses:\n" + "\n".join(f"  {k:>3}  {v}" for k, v in EXIT_STATUSES.items())


def build_parser() -> Parser:
    """The whole command line."""
    p = Parser(
        prog="dws",
        description="The operator's toolkit for the dws stack: the tutorial's three-node "
        "swarm on one machine, a live view, a preflight check, the benchmark.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    lab = sub.add_parser("lab", help="the three-node swarm lab: up, down, status, deploy")
    lab_sub = lab.add_subparsers(dest="lab_command", required=True, parser_class=Parser)
    up = lab_sub.add_parser(
        "up", help="build the node images (cached) and start the lab: cloud01..03, tcr:5000, front"
    )
    up.add_argument(
        "--port",
        type=int,
        default=8080,
        help="loopback port of the front load balancer (default 8080; 0 picks a free one)",
    )
    up.add_argument(
        "--no-bases",
        action="store_true",
        help="do not copy the stand-in base images into cloud01 (where the official "
        "python/nginx/mysql images can be pulled; also DWS_OFFICIAL_BASES=1)",
    )
    down = lab_sub.add_parser("down", help="remove everything the lab created")
    down.add_argument(
        "--images", action="store_true", help="also remove the cached dws-lab/* images"
    )
    lab_sub.add_parser("status", help="print nodes, services, addresses and URLs")
    lab_sub.add_parser(
        "deploy",
        help="build and push the images to tcr:5000, create the secrets, label and network, "
        "deploy stack.yml on cloud01 and wait until it serves",
    )

    tut = sub.add_parser("tutorial", help="the tutorial's steps on the deployed lab")
    tut.add_argument("--pause", action="store_true", help="wait for Enter between steps")

    watch = sub.add_parser(
        "watch", help="live view: nodes, tasks and who answers through the front (q to quit)"
    )
    watch.add_argument(
        "--interval", type=_positive, default=1.0, help="seconds between refreshes (default 1)"
    )
    watch.add_argument(
        "--rate",
        type=_positive,
        default=10.0,
        help="requests per second sent through the front load balancer (default 10)",
    )
    watch.add_argument("--url", help="front URL to send traffic to (default: the lab's)")

    replay = sub.add_parser(
        "replay",
        help="the tutorial replayed with continuous traffic; report in build/reports/",
    )
    replay.add_argument(
        "--db-nodes",
        type=int,
        choices=(1, 3),
        default=1,
        help="3: the database as a three-node Galera cluster, each node drained, the "
        "database restarted node by node, a node killed (report: replay-ha.json)",
    )
    replay.add_argument(
        "--keep",
        action="store_true",
        help="leave the stack (and a lab this command brought up) running",
    )

    check = sub.add_parser(
        "check", help="preflight of a swarm manager (DOCKER_HOST or the local engine)"
    )
    check.add_argument(
        "-c",
        "--compose-file",
        action="append",
        metavar="FILE",
        help="stack files, as for docker stack deploy (default: stack.yml)",
    )
    check.add_argument(
        "--mesh", action="store_true", help="check stack.yml with stack.mesh.yml on top"
    )
    check.add_argument(
        "--registry-address",
        action="append",
        default=[],
        metavar="NAME=HOST:PORT",
        help="reach registry NAME (as in the image names) at HOST:PORT from here",
    )
    check.add_argument(
        "--db-nodes",
        type=db_nodes_arg,
        default=os.environ.get("DB_NODES", "1"),
        help="database nodes the stack will run, as stack.yml's DB_NODES (default: $DB_NODES or 1)",
    )
    check.add_argument(
        "--lab",
        action="store_true",
        help="check the lab's manager (its DOCKER_HOST, its registry, build.py's variables)",
    )

    flb = sub.add_parser(
        "front-lb",
        help="print an nginx config for a load balancer in front of the nodes' port 80",
    )
    flb.add_argument("addresses", nargs="+", metavar="ADDRESS", help="node HOST or HOST:PORT")
    flb.add_argument("--listen", default="80", help="nginx `listen` value (default 80)")
    flb.add_argument(
        "--state-dir",
        default="/var/lib/dws-front",
        help="directory for nginx's pid, temp files and error log (default /var/lib/dws-front)",
    )

    sub.add_parser(
        "bench", help="the benchmark of the request path (dws bench --help)", add_help=False
    )
    sub.add_parser(
        "flood",
        help="latency of other users while passwords are guessed (dws flood --help)",
        add_help=False,
    )
    sub.add_parser(
        "db",
        help="the database: backup, restore, checksum, recover, check (dws db --help)",
        add_help=False,
    )
    sub.add_parser(
        "standins", help="build the stand-in base images and print their tags", add_help=False
    )
    return p


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 1000:
        raise argparse.ArgumentTypeError(f"must be in (0, 1000]: {text!r}")
    return value


def _registry_map(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, address = item.partition("=")
        if not sep or not name or not address:
            raise UsageError(f"--registry-address wants NAME=HOST:PORT, not {item!r}")
        out[name] = address
    return out


def cmd_lab(args: argparse.Namespace) -> int:
    from dws import lab

    if args.lab_command == "up":
        lab.up(lb_port=args.port, bases=not args.no_bases)
        lab.status()
    elif args.lab_command == "down":
        lab.down(images=args.images)
    elif args.lab_command == "status":
        lab.status()
    else:
        from dws import deploy

        the_lab = lab.Lab.load()
        figures = deploy.deploy(the_lab, say=lambda line: print(f"deploy: {line}", flush=True))
        print(deploy.next_steps(the_lab, figures["variables"]))
    return 0


def cmd_tutorial(args: argparse.Namespace) -> int:
    from dws import lab, tutorial

    tutorial.run(lab.Lab.load(), pause=args.pause, out=lambda line: print(line, flush=True))
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    from dws import lab, watch

    watch.run(lab.Lab.load(), interval=args.interval, rate=args.rate, url=args.url)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from dws import lab, replay, replay_ha

    mode = replay_ha if args.db_nodes == 3 else replay
    report_path = replay_ha.REPORT_HA if args.db_nodes == 3 else replay.REPORT
    timeline = replay_ha.TIMELINE_HA if args.db_nodes == 3 else replay.TIMELINE
    created = not lab.STATE_FILE.exists()
    the_lab = lab.up(lb_port=0) if created else lab.Lab.load()
    try:
        try:
            report = mode.run(the_lab, remove_stack=not args.keep)
        except AssertionError as exc:
            from dws.tutorial import StepFailed

            first = (str(exc).strip().splitlines() or ["assertion failed"])[0]
            raise StepFailed(f"replay failed: {first} (report: {report_path})") from exc
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


def cmd_check(args: argparse.Namespace) -> int:
    from dws import check

    files = args.compose_file or ["stack.yml"]
    if args.mesh:
        files = [*files, "stack.mesh.yml"]
    registries = _registry_map(args.registry_address)
    if args.lab:
        from dws import deploy, lab

        the_lab = lab.Lab.load()
        os.environ["DOCKER_HOST"] = the_lab.manager_host
        os.environ.pop("DOCKER_CONTEXT", None)
        registries.setdefault(lab.REGISTRY, f"{the_lab.registry_ip}:5000")
        variables = {}
        if deploy.IMAGES_JSON.exists():
            variables = json.loads(deploy.IMAGES_JSON.read_text()).get("stack_variables") or {}
        # Only a build for the lab's registry tells the lab's tags.
        if variables.get("REGISTRY") == lab.REGISTRY:
            for key, value in variables.items():
                os.environ.setdefault(key, value)
    check.run(files, registries, db_nodes=args.db_nodes)
    return 0


def cmd_front_lb(args: argparse.Namespace) -> int:
    from dws import frontlb

    servers = []
    for n, text in enumerate(args.addresses, 1):
        try:
            servers.append((f"node {n}", frontlb.parse_address(text)))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    listen = args.listen
    if not all(c.isalnum() or c in ".:[]" for c in listen):
        raise UsageError(f"--listen: not an address or port: {listen!r}")
    state = Path(args.state_dir)
    if not state.is_absolute() or any(c in args.state_dir for c in ";{}\"' \n"):
        raise UsageError(f"--state-dir must be an absolute path without spaces: {args.state_dir!r}")
    sys.stdout.write(frontlb.render(servers, listen=listen, state_dir=state))
    return 0


COMMANDS = {
    "lab": cmd_lab,
    "tutorial": cmd_tutorial,
    "watch": cmd_watch,
    "replay": cmd_replay,
    "check": cmd_check,
    "front-lb": cmd_front_lb,
}


def main(argv: list[str] | None = None) -> int:
    """Parse, run, and turn every failure into one line and an exit status."""
    argv = sys.argv[1:] if argv is None else argv
    # These keep their own option parsers.
    if argv[:1] == ["bench"]:
        from dws import bench

        return bench.main(argv[1:])
    if argv[:1] == ["flood"]:
        from dws import flood

        return flood.main(argv[1:])
    if argv[:1] == ["db"]:
        from dws import db

        return db.main(argv[1:])
    if argv[:1] == ["standins"]:
        from dws import standins

        return standins._main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except DwsError as exc:
        print(f"dws {args.command}: error: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print(
            f"dws {args.command}: interrupted; `dws lab status` shows what runs, "
            "`dws lab down` removes everything",
            file=sys.stderr,
        )
        return 130
