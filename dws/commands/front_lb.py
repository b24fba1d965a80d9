"""`dws front-lb`: an nginx configuration for a load balancer in front of the nodes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dws.commands.types import listen
from dws.util import UsageError

NAME = "front-lb"
HELP = "print an nginx config for a load balancer in front of the nodes' port 80"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("addresses", nargs="+", metavar="ADDRESS", help="node HOST or HOST:PORT")
    p.add_argument(
        "--listen", type=listen, default="80", help="nginx `listen` value: PORT or ADDRESS:PORT"
    )
    p.add_argument(
        "--state-dir",
        default="/var/lib/dws-front",
        help="directory for nginx's pid, temp files and error log (default /var/lib/dws-front)",
    )


def run(args: argparse.Namespace) -> int:
    from dws import frontlb

    servers = []
    for n, text in enumerate(args.addresses, 1):
        try:
            servers.append((f"node {n}", frontlb.parse_address(text)))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    state = Path(args.state_dir)
    if not state.is_absolute() or any(c in args.state_dir for c in ";{}\"' \n"):
        raise UsageError(f"--state-dir must be an absolute path without spaces: {args.state_dir!r}")
    sys.stdout.write(frontlb.render(servers, listen=args.listen, state_dir=state))
    return 0
