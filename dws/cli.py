"""The `dws` command line: one subcommand per tool."""

from __future__ import annotations

import sys

COMMANDS = {
    "lab": "the three-node swarm lab: up, down, status",
    "bench": "the benchmark of the production request path",
    "standins": "build the stand-in base images and print their tags",
}


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the subcommand's own parser."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: dws COMMAND [ARGS...]\n\ncommands:")
        for name, what in COMMANDS.items():
            print(f"  {name:<10}{what}")
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "lab":
        from dws import lab

        return lab.main(rest)
    if command == "bench":
        from dws import bench

        return bench.main(rest)
    if command == "standins":
        from dws import standins

        return standins._main(rest)
    print(f"dws: unknown command {command!r} (dws --help)", file=sys.stderr)
    return 2
