"""The embedded SQLite default: its schema brought up to date and its seed
rows loaded once, however many processes start on a new file at once."""

from __future__ import annotations

import fcntl
import os

from sqlalchemy import Engine, func, select

from .models import Country
from .seed import load_seed


def ensure_embedded_schema(engine: Engine) -> bool:
    """Bring the SQLite schema to the newest revision and load the seed rows once.

    Returns True when it loaded the seed (a new database file). Several
    processes (gunicorn workers) may start at once on a new file: a lock
    file makes one of them create and seed it while the others wait.
    """
    database = engine.url.database
    lock_path = f"{database}.lock" if database and database != ":memory:" else None
    with open(lock_path or os.devnull, "w") as lock:
        if lock_path:
            fcntl.flock(lock, fcntl.LOCK_EX)
        # Imported here: `python -m bootservice.migrate` imports the package
        # first, which must not have imported the module it is about to run.
        from .migrate import upgrade

        upgrade(engine)
        with engine.begin() as conn:
            if conn.execute(select(func.count()).select_from(Country.__table__)).scalar_one():
                return False
            load_seed(conn)
    return True
