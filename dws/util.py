"""Small utilities and constants shared by every part of the toolkit."""

from __future__ import annotations

import socket
from pathlib import Path

# The toolkit works on a checkout: build.py, stack.yml and services/ live here.
REPO = Path(__file__).resolve().parents[1]
RECIPES = Path(__file__).resolve().parent / "recipes"
SEED_SQL = REPO / "services" / "mysql" / "citydb.sql"
# The seeded demo account (its hash is in the seed SQL, not this password).
DEMO_USER = ("test1", "12345678")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
