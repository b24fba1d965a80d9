"""Reads services/mysql/citydb.sql, the single source of the seed data.

The MySQL image runs the whole file; the embedded SQLite default builds its
schema from the models and runs only the file's INSERT statements, which the
file keeps in a dialect both engines accept.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection

_REPO_SQL = Path(__file__).resolve().parents[2] / "mysql" / "citydb.sql"


def seed_sql_path() -> Path:
    """The init SQL file: SEED_SQL_FILE, else services/mysql/citydb.sql."""
    return Path(os.environ.get("SEED_SQL_FILE") or _REPO_SQL)


def split_statements(sql: str) -> Iterator[str]:
    """Yield the statements of `sql`, split on `;` outside quotes and comments."""
    buf: list[str] = []
    quote: str | None = None
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if quote:
            buf.append(ch)
            if ch == quote:
                if i + 1 < n and sql[i + 1] == quote:  # '' inside a string
                    buf.append(sql[i + 1])
                    i += 1
                else:
                    quote = None
        elif ch in "'\"`":
            quote = ch
            buf.append(ch)
        elif sql.startswith("--", i) or ch == "#":
            end = sql.find("\n", i)
            i = n if end < 0 else end
            continue
        elif ch == ";":
            statement = "".join(buf).strip()
            if statement:
                yield statement
            buf = []
        else:
            buf.append(ch)
        i += 1
    statement = "".join(buf).strip()
    if statement:
        yield statement


def insert_statements(path: Path | None = None) -> list[str]:
    """The INSERT statements of the init SQL file, in file order."""
    sql = (path or seed_sql_path()).read_text(encoding="utf-8")
    return [s for s in split_statements(sql) if s[:6].upper() == "INSERT"]


def load_seed(conn: Connection, path: Path | None = None) -> int:
    """Run the seed INSERTs on `conn`; returns how many statements ran."""
    statements = insert_statements(path)
    for statement in statements:
        # Driver-level: the hashes contain ':' that text() would read as binds.
        conn.exec_driver_sql(statement)
    return len(statements)


def published_password_hashes(path: Path | None = None) -> set[str]:
    """Every password hash in the init SQL file: their passwords are public."""
    sql = (path or seed_sql_path()).read_text(encoding="utf-8")
    return set(re.findall(r"'(scrypt:[^']+)'", sql))
