"""`dws standins`: build the stand-in base images and print their tags."""

from __future__ import annotations

import argparse

from dws.standins import BASES, STANDINS, ensure_all

HELP = "build the stand-in base images (from Debian packages) and print their tags"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "names",
        nargs="*",
        choices=tuple(STANDINS),
        metavar="NAME",
        help=f"the stand-ins to build: {', '.join(tuple(STANDINS))} "
        f"(default: the bases, {', '.join(BASES)})",
    )


def run(args: argparse.Namespace) -> int:
    for name, tag in ensure_all(tuple(args.names) or BASES).items():
        print(f"{name}={tag}")
    return 0
