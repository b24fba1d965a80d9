"""`dws rotate`: a secret of the lab's deployed stack replaced under traffic."""

from __future__ import annotations

import argparse

HELP = "replace a secret of the lab's stack with no failed request (docs/rotation.md)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from dws.rotate import KINDS

    p.add_argument(
        "kind",
        choices=KINDS,
        help="session-key: bootservice's signing key; db-password: the database "
        "accounts' passwords; tls-cert: nginx's certificate and key",
    )
    p.add_argument(
        "--retire",
        action="store_true",
        help="session-key: also stop accepting the old key (once SESSION_LIFETIME has "
        "passed, or visitors who have not come back since are logged out)",
    )


def run(args: argparse.Namespace) -> int:
    from dws import lab, rotate

    the_lab = lab.Lab.load()
    figures = rotate.run(the_lab, args.kind, retire=args.retire)
    shown = ", ".join(f"{k} {v}" for k, v in figures.items())
    print(f"rotate {args.kind}: done ({shown})" if figures else f"rotate {args.kind}: done")
    return 0
