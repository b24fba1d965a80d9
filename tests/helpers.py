"""Constants and small helpers shared by every tier (imported as `helpers`)."""

from __future__ import annotations

import base64
from pathlib import Path

from dws.util import free_port  # noqa: F401 - re-exported for the tests

REPO = Path(__file__).resolve().parents[1]
SEED_SQL = REPO / "services" / "mysql" / "citydb.sql"
# The seeded demo account (its hash is in the seed SQL, not this password).
DEMO_USER = ("test1", "12345678")
SEED_COUNTRIES = 183


def basic_auth(username: str, password: str) -> dict[str, str]:
    """An Authorization header for HTTP Basic."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}
