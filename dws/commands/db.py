"""`dws db`: the database of a deployed stack: backup, restore, checksum, recover, check."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from dws.commands.types import positive
from dws.util import DwsError

HELP = "the database: backup, restore, checksum, recover, check"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from dws.db import db_nodes_arg

    sub = p.add_subparsers(dest="db_command", required=True, parser_class=type(p))
    for name, what in (
        ("backup", "dump citydb from a healthy database task to FILE"),
        ("restore", "load a dump made by `dws db backup` into the database"),
    ):
        s = sub.add_parser(name, help=what)
        s.add_argument("file", type=Path, metavar="FILE", help="the dump file")
    sub.add_parser("checksum", help="print CHECKSUM TABLE of every citydb table")
    r = sub.add_parser(
        "recover", help="restart a stopped Galera cluster from its most advanced node"
    )
    r.add_argument(
        "--timeout", type=positive, default=600, help="seconds to wait for it (default 600)"
    )
    c = sub.add_parser("check", help="check the dws.db=true labels against DB_NODES")
    c.add_argument(
        "--db-nodes",
        type=db_nodes_arg,
        default=os.environ.get("DB_NODES", "1"),
        help="database nodes the stack runs (default: $DB_NODES or 1)",
    )
    for s in sub.choices.values():
        s.add_argument("--stack", default="dws", help="the stack's name (default dws)")
        s.add_argument("--container", help="the database container (default: a healthy task)")


def run(args: argparse.Namespace) -> int:
    from dws import db

    try:
        return _run(db, args)
    except db.DbError as exc:
        raise DwsError(str(exc)) from None


def _run(db, args: argparse.Namespace) -> int:
    if args.db_command == "check":
        problem = db.check_labels(db.labelled_nodes(), args.db_nodes)
        if problem:
            raise db.DbError(problem)
        print(f"dws db: {args.db_nodes} database node(s), labels fit")
        return 0
    if args.db_command == "recover":
        db.recover(args.stack, args.timeout)
        print(f"dws db: {args.stack}_mysql restarted from its most advanced node")
        return 0
    container = args.container or db.find_container(args.stack)
    if args.db_command == "backup":
        size = db.backup(container, args.file)
        print(f"dws db: {db.DATABASE} from {container} -> {args.file} ({size} bytes)")
    elif args.db_command == "restore":
        db.restore(container, args.file)
        print(f"dws db: {args.file} -> {db.DATABASE} on {container}")
    else:
        for table, value in db.checksums(container).items():
            print(f"{table}\t{value}")
    return 0
