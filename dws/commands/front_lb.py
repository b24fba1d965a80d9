"""`dws front-lb`: an nginx configuration for a load balancer in front of the nodes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dws.commands.types import listen
from dws.util import UsageError

NAME = "front-lb"
HELP = "print an nginx config for a load balancer in front of the nodes' port 443"
SYSTEM_CA = "/etc/ssl/certs/ca-certificates.crt"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "addresses", nargs="+", metavar="ADDRESS", help="node HOST or HOST:PORT (port 443)"
    )
    p.add_argument(
        "--listen",
        type=listen,
        default="443",
        help="nginx `listen` value of the HTTPS side: PORT or ADDRESS:PORT (default 443)",
    )
    p.add_argument(
        "--http-listen",
        type=listen,
        default="80",
        help="`listen` value of the plain HTTP side, which redirects to HTTPS (default 80)",
    )
    p.add_argument(
        "--certificate",
        required=True,
        metavar="FILE",
        help="the site's certificate (PEM), as the nodes serve it",
    )
    p.add_argument("--key", required=True, metavar="FILE", help="the certificate's key (PEM)")
    p.add_argument(
        "--node-name",
        required=True,
        metavar="NAME",
        help="a name the nodes' certificate is valid for, checked on every connection",
    )
    p.add_argument(
        "--trusted-ca",
        default=SYSTEM_CA,
        metavar="FILE",
        help=f"the CA that signed the nodes' certificate (default {SYSTEM_CA})",
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
    tls = frontlb.FrontTls(
        certificate=Path(args.certificate),
        key=Path(args.key),
        trusted_ca=Path(args.trusted_ca),
        node_name=args.node_name,
    )
    try:
        frontlb.check_path("--state-dir", state)
        config = frontlb.render(
            servers,
            listen=args.listen,
            state_dir=state,
            tls=tls,
            http_listen=args.http_listen,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    sys.stdout.write(config)
    return 0
