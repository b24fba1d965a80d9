"""Fixtures shared by every tier."""

from __future__ import annotations

import pytest

from helpers import DEMO_USER, basic_auth


@pytest.fixture
def auth_header() -> dict[str, str]:
    """HTTP Basic credentials of the seeded demo user."""
    return basic_auth(*DEMO_USER)
