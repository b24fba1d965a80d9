"""nginx in front (the project's config, as the benchmark runs it, over
HTTPS): its own answers keep the application's error shape, login guessing
is limited at the edge, the application's Content-Security-Policy passes
through, and the session cookie is Secure."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import pytest
import requests

from dws import bench_stack, tls

from helpers import DEMO_USER, basic_auth, csrf_of


@pytest.fixture(scope="module")
def edge() -> Iterator[bench_stack.Stack]:
    """nginx -> 3 bootservice instances -> MariaDB."""
    with bench_stack.running_stack(bench_stack.Settings(apps=("bootservice",))) as running:
        # nginx's workers run as an unprivileged user: let them reach the
        # error pages in the throwaway directory, as the image's files are.
        running.workdir.chmod(0o711)
        yield running


@pytest.fixture
def http(edge) -> Iterator[requests.Session]:
    """A client that trusts the edge's CA."""
    with tls.client_session(edge.ca) as session:
        yield session


def _raw(url: str, ca: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    host, port = url.removeprefix("https://").split(":")
    context = ssl.create_default_context(cafile=ca)
    with (
        socket.create_connection((host, int(port)), timeout=10) as plain,
        context.wrap_socket(plain, server_hostname=host) as sock,
    ):
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def _is_error_json(headers: dict[str, str], body: bytes) -> bool:
    import json

    parsed = json.loads(body)
    return headers["content-type"].startswith("application/json") and set(parsed) == {
        "error",
        "detail",
    }


@pytest.mark.parametrize(
    "name,request_bytes,status",
    [
        (
            "uri-too-long",
            b"GET /api/v1/countries?x=" + b"a" * 6000 + b" HTTP/1.1\r\nHost: x\r\n",
            414,
        ),
        (
            "header-too-large",
            b"GET /api/v1/countries HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 6000 + b"\r\n",
            400,
        ),
        (
            "bad-framing",
            b"GET /api/v1/countries HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n",
            400,
        ),
        (
            "body-too-large",
            b"POST /api/v1/countries HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 300000\r\n",
            413,
        ),
    ],
)
def test_nginx_answers_in_the_json_shape(edge, name, request_bytes, status):
    got, headers, body = _raw(edge.url(), edge.ca, request_bytes + b"Connection: close\r\n\r\n")
    assert got == status, (name, body[:200])
    assert _is_error_json(headers, body), body[:200]


def test_gunicorn_limits_are_beyond_nginx(edge, http):
    # Just under nginx's limits, the request reaches the application.
    resp = http.get(f"{edge.url()}/api/v1/countries", params={"x": "a" * 3000}, timeout=10)
    assert resp.status_code == 200
    many = {f"X-H{i}": "v" for i in range(150)}
    assert http.get(f"{edge.url()}/api/v1/countries", headers=many, timeout=10).ok


def test_csp_passes_through(edge, http):
    resp = http.get(f"{edge.url()}/countries", timeout=10)
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Frame-Options"] == "DENY"


def test_session_cookie_is_secure_over_https(edge, http):
    page = http.get(f"{edge.url()}/login", timeout=10)
    assert page.status_code == 200
    assert page.headers["Strict-Transport-Security"] == "max-age=63072000"
    cookie = page.headers["Set-Cookie"]
    assert "; Secure" in cookie and "HttpOnly" in cookie, cookie


def test_login_flood_limited_at_the_edge(edge, http):
    token = csrf_of(http.get(f"{edge.url()}/login", timeout=10).text)
    statuses = []
    for _ in range(30):
        resp = http.post(
            f"{edge.url()}/login",
            data={"username": "nobody", "password": "guess-guess", "csrf_token": token},
            allow_redirects=False,
            timeout=10,
        )
        statuses.append(resp.status_code)
        if resp.status_code == 429:
            limited = resp
    assert 429 in statuses and statuses[0] == 401, statuses
    assert limited.headers["Retry-After"] == "1" and "too many" in limited.text
    assert limited.headers["Strict-Transport-Security"] == "max-age=63072000"
    # API clients with correct credentials are not limited at the edge.
    auth = basic_auth(*DEMO_USER)
    writes = [
        http.post(
            f"{edge.url()}/api/v1/cities", json={"name": f"edge-{i}"}, headers=auth, timeout=10
        ).status_code
        for i in range(30)
    ]
    assert writes == [201] * 30


def test_no_replica_is_json_for_the_api_and_a_page_elsewhere(edge, http):
    for app in edge.apps["bootservice"]:
        app.stop()
    resp = http.get(f"{edge.url()}/api/v1/countries", timeout=30)
    assert resp.status_code == 502 and resp.json()["error"] == "bad gateway"
    page = http.get(f"{edge.url()}/countries", timeout=30)
    assert page.status_code == 502 and page.headers["Content-Type"].startswith("text/html")
