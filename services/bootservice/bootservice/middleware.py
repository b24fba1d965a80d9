"""The WSGI layers between the server and the Flask app that every request
passes, kept to a few dictionary operations each.

**Trusted proxies.** nginx (and the front load balancer before it) append
the address they saw to `X-Forwarded-For` and set `X-Forwarded-Proto`. With
`TRUSTED_PROXIES` = n, the n-th address from the right is the client:
anything further left was sent by the client itself and proves nothing. The
address is used only when it is an IP address, and the scheme, taken the
same way, only when it is `http` or `https`. This is werkzeug's ProxyFix
rule for these two headers without its general list parsing (quoted strings
never occur in them), the largest single cost ProxyFix added to a request.

**Fixed headers.** `X-App-Version` and `X-Served-By` show which release and
which replica answered: the tutorial's way of watching load balancing and
rolling updates. The Content-Security-Policy allows no inline script or
style anywhere, so user data can never become code. None of them depends on
the request, so they are appended to the header list the server receives
rather than set on each response object one by one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
SCHEMES = ("http", "https")
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def from_right(value: str | None, trusted: int) -> str | None:
    """The `trusted`-th comma-separated item from the right, stripped; None
    when the header is missing, has fewer items, or that item is empty."""
    if not value:
        return None
    items = value.split(",")
    if len(items) < trusted:
        return None
    return items[-trusted].strip() or None


def _is_address(text: str) -> bool:
    # A proxy that is trusted writes an address there; anything else (a
    # misconfigured TRUSTED_PROXIES) would reach the logs and the throttle.
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class TrustedProxies:
    """WSGI middleware: the client's address and scheme as the proxies in
    front reported them (REMOTE_ADDR and wsgi.url_scheme)."""

    def __init__(self, app: WSGIApp, trusted: int) -> None:
        self.app = app
        self.trusted = trusted

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        address = from_right(environ.get("HTTP_X_FORWARDED_FOR"), self.trusted)
        if address is not None and _is_address(address):
            environ["REMOTE_ADDR"] = address
        scheme = (from_right(environ.get("HTTP_X_FORWARDED_PROTO"), self.trusted) or "").lower()
        if scheme in SCHEMES:
            environ["wsgi.url_scheme"] = scheme
        return self.app(environ, start_response)


class FixedHeaders:
    """WSGI middleware: append the same headers to every response."""

    def __init__(self, app: WSGIApp, app_version: str, instance: str) -> None:
        self.app = app
        self.headers = [
            ("X-App-Version", app_version),
            ("X-Served-By", instance),
            ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
        ]

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers.extend(self.headers)
            return start_response(status, headers, exc_info)

        return self.app(environ, start)
