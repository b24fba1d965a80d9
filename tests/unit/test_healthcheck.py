"""The image's healthcheck probe: the status line it reads, what it exits
with for a healthy, an unhealthy and an absent server, and that it stays a
standard-library script."""

from __future__ import annotations

import ast
import socket
import threading
from pathlib import Path

import pytest

from bootservice import healthcheck

SCRIPT = Path(healthcheck.__file__)


def test_status_line_parsing():
    assert healthcheck.status_code(b"HTTP/1.1 200 OK\r\nContent-Type: x\r\n") == 200
    assert healthcheck.status_code(b"HTTP/1.0 503 SERVICE UNAVAILABLE\r\n") == 503
    assert healthcheck.status_code(b"SSH-2.0-OpenSSH\r\n") is None
    assert healthcheck.status_code(b"HTTP/1.1 abc\r\n") is None
    assert healthcheck.status_code(b"") is None


@pytest.fixture
def one_answer():
    """A loopback listener that answers each connection with the given bytes."""
    listener = socket.create_server(("127.0.0.1", 0))
    answers: list[bytes] = []
    requests: list[bytes] = []

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                requests.append(conn.recv(1024))
                conn.sendall(answers.pop(0))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    def answer(data: bytes) -> tuple[int, list[bytes]]:
        answers.append(data)
        return listener.getsockname()[1], requests

    yield answer
    listener.close()
    thread.join(timeout=5)


def test_exit_status_follows_the_answer(one_answer, monkeypatch, capsys):
    port, requests = one_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    monkeypatch.setenv("PORT", str(port))
    assert healthcheck.main() == 0
    assert requests[0].startswith(b"GET /healthz HTTP/1.0\r\n")
    port, _ = one_answer(b"HTTP/1.1 500 INTERNAL SERVER ERROR\r\n\r\n")
    assert healthcheck.main() == 1
    assert "answered 500" in capsys.readouterr().err


def test_nothing_listening_is_unhealthy(monkeypatch, capsys):
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    monkeypatch.setenv("PORT", str(port))
    assert healthcheck.main() == 1
    assert f"127.0.0.1:{port}/healthz" in capsys.readouterr().err


def test_the_probe_imports_only_the_standard_library():
    # It runs as `python -I -S healthcheck.py`: no site packages, no package.
    tree = ast.parse(SCRIPT.read_text())
    imported = {
        alias.name for n in ast.walk(tree) if isinstance(n, ast.Import) for alias in n.names
    }
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported == {"__future__", "os", "socket", "sys"}, imported
