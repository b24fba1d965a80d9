"""Constants and small helpers shared by every tier (imported as `helpers`)."""

from __future__ import annotations

import base64
import socket
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEED_SQL = REPO / "services" / "mysql" / "citydb.sql"
# The seeded demo account (its hash is in the seed SQL, not this password).
DEMO_USER = ("test1", "12345678")
SEED_COUNTRIES = 183


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def basic_auth(username: str, password: str) -> dict[str, str]:
    """An Authorization header for HTTP Basic."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}
