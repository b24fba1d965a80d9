"""Fixtures shared by every tier."""

from __future__ import annotations

import pytest

from helpers import DEMO_USER, basic_auth

# A test's tier is the folder it lives in; the marker lets `-m` pick tiers.
TIERS = ("integration", "browser", "docker", "e2e")


def pytest_collection_modifyitems(items):
    """Mark every test with the tier of its folder."""
    for item in items:
        parts = item.path.relative_to(item.config.rootpath).parts
        for tier in TIERS:
            if tier in parts:
                item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture
def auth_header() -> dict[str, str]:
    """HTTP Basic credentials of the seeded demo user."""
    return basic_auth(*DEMO_USER)
