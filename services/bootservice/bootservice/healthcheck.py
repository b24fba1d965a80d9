"""`python -m bootservice.healthcheck`: the image's HEALTHCHECK, no curl needed.

Exits 0 when http://127.0.0.1:$PORT/healthz answers 200 within 2 seconds.
The image runs this file as a script (`python -I -S .../healthcheck.py`),
every few seconds in every replica, so each probe must cost as little as an
interpreter can: it imports only `socket` (no urllib: its imports of http,
email and ssl cost several times the interpreter's own start) and speaks
just enough HTTP/1.0 to read the status line.
"""

from __future__ import annotations

import os
import socket
import sys

TIMEOUT = 2.0


def status_code(head: bytes) -> int | None:
    """The status code of an HTTP response's first line; None if it is none."""
    parts = head.split(b"\r\n", 1)[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        return None
    return int(parts[1])


def probe(port: int, timeout: float = TIMEOUT) -> int | None:
    """GET /healthz on 127.0.0.1:`port`; its status code (None: no HTTP answer).

    OSError (refused, timed out) propagates to the caller.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        head = b""
        while b"\r\n" not in head and len(head) < 1024:
            chunk = sock.recv(1024)
            if not chunk:
                break
            head += chunk
    return status_code(head)


def main() -> int:
    """Probe /healthz once; 0 for healthy, 1 otherwise."""
    port = int(os.environ.get("PORT", "8888"))
    try:
        code = probe(port)
    except OSError as exc:
        print(f"healthcheck: 127.0.0.1:{port}/healthz: {exc}", file=sys.stderr)
        return 1
    if code != 200:
        print(f"healthcheck: 127.0.0.1:{port}/healthz answered {code}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
