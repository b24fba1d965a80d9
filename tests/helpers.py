"""Constants and small helpers shared by every tier (imported as `helpers`)."""

from __future__ import annotations

import base64
import json
import re
from http.server import BaseHTTPRequestHandler
from typing import Any

# Re-exported for the tests: the package's own constants and helpers.
from dws.util import DEMO_USER, REPO, SEED_SQL, free_port  # noqa: F401

# The other seeded demo accounts (their hashes are in the seed SQL, not these
# passwords): test1 (DEMO_USER) and test3 are administrators (usertype 1),
# test2 an ordinary user (usertype 2).
DEMO_ADMIN2 = ("test3", "bbbb")
DEMO_ORDINARY = ("test2", "aaaa")
SEED_COUNTRIES = 183


def basic_auth(username: str, password: str) -> dict[str, str]:
    """An Authorization header for HTTP Basic."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def text_of(resp: Any) -> str:
    """The body of a Flask test response or a requests response, as text."""
    return resp.get_data(as_text=True) if hasattr(resp, "get_data") else resp.text


def csrf_of(html: str) -> str:
    """The CSRF token embedded in a page's form."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def form_login(client: Any, base: str = "", user: tuple[str, str] = DEMO_USER) -> Any:
    """Log in through the login form with a Flask test client (`base` "") or
    a requests.Session (`base` the server's URL); returns the POST's answer."""
    page = text_of(client.get(f"{base}/login"))
    extra = {} if hasattr(client, "application") else {"allow_redirects": False, "timeout": 10}
    return client.post(
        f"{base}/login",
        data={"username": user[0], "password": user[1], "csrf_token": csrf_of(page)},
        **extra,
    )


class JsonHandler(BaseHTTPRequestHandler):
    """A quiet handler of a made-up service on loopback, answering JSON."""

    def log_message(self, *args) -> None:  # noqa: ANN002 - quiet
        pass

    def answer(self, status: int, data: dict, location: str | None = None) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if location:
            self.send_header("Location", location)
        self.end_headers()
        self.wfile.write(payload)
