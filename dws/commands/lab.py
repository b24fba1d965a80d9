"""`dws lab`: the three-node swarm lab: up, down, status, deploy."""

from __future__ import annotations

import argparse

from dws.commands.types import port_or_zero

HELP = "the three-node swarm lab: up, down, status, deploy"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="lab_command", required=True, parser_class=type(p))
    up = sub.add_parser(
        "up", help="build the node images (cached) and start the lab: cloud01..03, tcr:5000, front"
    )
    up.add_argument(
        "--port",
        type=port_or_zero,
        default=8443,
        help="loopback port of the front load balancer's HTTPS (default 8443; 0 picks a free one)",
    )
    up.add_argument(
        "--http-port",
        type=port_or_zero,
        default=8080,
        help="loopback port of its plain HTTP, which redirects to HTTPS "
        "(default 8080; 0 picks a free one)",
    )
    up.add_argument(
        "--engine",
        choices=("26", "20.10"),
        default="26",
        help="the nodes' Docker Engine: 26 (Debian 13's docker.io, the default) or 20.10 "
        "(Debian 12's)",
    )
    up.add_argument(
        "--no-bases",
        action="store_true",
        help="do not copy the stand-in base images into cloud01 (where the official "
        "python/nginx/mysql images can be pulled; also DWS_OFFICIAL_BASES=1)",
    )
    down = sub.add_parser("down", help="remove everything the lab created")
    down.add_argument(
        "--images", action="store_true", help="also remove the cached dws-lab/* images"
    )
    sub.add_parser("status", help="print nodes, services, addresses and URLs")
    deploy = sub.add_parser(
        "deploy",
        help="build and push the images to tcr:5000, create the secrets, label and network, "
        "deploy stack.yml on cloud01 and wait until it serves",
    )
    monitoring = deploy.add_mutually_exclusive_group()
    monitoring.add_argument(
        "--monitoring",
        action="store_true",
        default=None,
        help="with stack.monitoring.yml: Prometheus, Alertmanager and the exporters "
        "(kept by later deploys)",
    )
    monitoring.add_argument(
        "--no-monitoring",
        dest="monitoring",
        action="store_false",
        help="without stack.monitoring.yml (its services are removed)",
    )


def run(args: argparse.Namespace) -> int:
    from dws import lab

    if args.lab_command == "up":
        lab.up(
            lb_port=args.port,
            http_port=args.http_port,
            bases=not args.no_bases,
            engine=args.engine,
        )
        lab.status()
    elif args.lab_command == "down":
        lab.down(images=args.images)
    elif args.lab_command == "status":
        lab.status()
    else:
        from dws import deploy

        the_lab = lab.Lab.load()
        figures = deploy.deploy(
            the_lab,
            say=lambda line: print(f"deploy: {line}", flush=True),
            monitoring=args.monitoring,
        )
        print(deploy.next_steps(the_lab, figures["variables"]))
    return 0
