"""One burst per response: the header and body leave the replica together.

gunicorn writes a response's header and its body in two `send` calls, and its
sockets have Nagle's algorithm off, so they leave as separate packets. If the
replica's node dies between them (a crashed or killed Swarm node), nginx in
front has already received the header: it passes it on and can no longer try
another replica, and the client gets a cut-off answer after nginx's read
timeout. With TCP_CORK on the connection while the app answers, the kernel
holds the small header until the body is written and the cork is pulled, and
sends the response in full-sized segments, back to back.

Only TCP connections that gunicorn hands over (`gunicorn.socket`) on systems
with TCP_CORK (Linux) are corked; anything else passes through untouched.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .middleware import WSGIApp

TCP_CORK = getattr(socket, "TCP_CORK", None)


def _set_cork(sock: socket.socket, on: bool) -> None:
    try:
        sock.setsockopt(socket.IPPROTO_TCP, TCP_CORK, int(on))
    except OSError:  # the client has gone: nothing left to hold or send
        pass


def _corkable(sock: object) -> bool:
    return (
        TCP_CORK is not None
        and isinstance(sock, socket.socket)
        and sock.family in (socket.AF_INET, socket.AF_INET6)
        and sock.type == socket.SOCK_STREAM
    )


class _Uncorking:
    """The app's response body; pulls the cork as soon as the server has
    written all of it.

    That is when the server asks for the item after the last one, not at
    `close()`: gunicorn writes its access log line in between, to a stdout
    that may wait on the container's log pipe, and the full-sized segments
    of a corked response have already left by then. A node dying in that
    wait would leave nginx holding the header and most of the body (a
    cut-off answer), the very split the cork is there to prevent.
    """

    def __init__(self, body: Iterable[bytes], sock: socket.socket) -> None:
        self._body = body
        self._sock = sock

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._body
        finally:
            _set_cork(self._sock, False)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            # Also when the server never iterated (a HEAD, a write error).
            _set_cork(self._sock, False)


class CorkedResponses:
    """WSGI middleware: cork the client connection from the start of the
    request until its response has been written."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        sock = environ.get("gunicorn.socket")
        if not _corkable(sock):
            return self.app(environ, start_response)
        _set_cork(sock, True)
        try:
            body = self.app(environ, start_response)
        except BaseException:
            _set_cork(sock, False)
            raise
        file_wrapper = environ.get("wsgi.file_wrapper")
        if isinstance(file_wrapper, type) and isinstance(body, file_wrapper):
            # A file goes out by sendfile(), which the server only uses on
            # the object it handed out: leave it alone, uncorked.
            _set_cork(sock, False)
            return body
        return _Uncorking(body, sock)
