"""The `dws` command line (also `python -m dws`): one subcommand per tool.

Every failure is one line on stderr and an exit status of its own (see
EXIT_STATUSES, printed by `dws --help`).
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from dws.util import DwsError

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
    12: "dws rotate: the rotation stopped (run it again to go on)",
    130: "interrupted (Ctrl-C)",
}


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error and status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _epilog() -> str:
    return "exit statuses:\n" + "\n".join(f"  {k:>3}  {v}" for k, v in EXIT_STATUSES.items())


def build_parser() -> Parser:
    """The whole command line: every subcommand of dws.commands, with its options."""
    from dws.commands import COMMANDS

    p = Parser(
        prog="dws",
        description="The operator's toolkit for the dws stack: the tutorial's three-node "
        "swarm on one machine, a live view, a preflight check, the benchmark.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for name, module in COMMANDS.items():
        module.add_arguments(sub.add_parser(name, help=module.HELP, description=module.HELP))
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse, run, and turn every failure into one line and an exit status."""
    from dws.commands import COMMANDS

    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return COMMANDS[args.command].run(args)
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
