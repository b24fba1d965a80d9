"""The subcommands of `dws`, one module each.

Each module has HELP (its line in `dws --help`), `add_arguments(parser)`
(its options, each with help text) and `run(args) -> int`; its name on the
command line is its NAME, or the module's name. A failure is a
`dws.util.DwsError`, which `dws.cli.main` prints as one line with its status.
"""

from __future__ import annotations

from types import ModuleType

from dws.commands import (
    bench,
    check,
    db,
    flood,
    front_lb,
    lab,
    replay,
    rotate,
    standins,
    tutorial,
    watch,
)

# In the order `dws --help` lists them.
MODULES: tuple[ModuleType, ...] = (
    lab,
    tutorial,
    watch,
    replay,
    rotate,
    check,
    front_lb,
    bench,
    flood,
    db,
    standins,
)


def name_of(module: ModuleType) -> str:
    """The subcommand's name on the command line."""
    return getattr(module, "NAME", module.__name__.rsplit(".", 1)[-1])


COMMANDS: dict[str, ModuleType] = {name_of(m): m for m in MODULES}
