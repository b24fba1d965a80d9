"""`dws tutorial`: the tutorial's steps on the deployed lab."""

from __future__ import annotations

import argparse

HELP = "the tutorial's steps on the deployed lab"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pause", action="store_true", help="wait for Enter between steps")


def run(args: argparse.Namespace) -> int:
    from dws import lab, tutorial

    tutorial.run(lab.Lab.load(), pause=args.pause, out=lambda line: print(line, flush=True))
    return 0
