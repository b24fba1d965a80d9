"""The cork on a response's connection, on real loopback TCP sockets."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from bootservice.cork import TCP_CORK, CorkedResponses

pytestmark = pytest.mark.skipif(TCP_CORK is None, reason="TCP_CORK is Linux-only")


@pytest.fixture
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """(server side, client side) of one loopback TCP connection."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
        yield server, client
        server.close()
        client.close()


def corked(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, TCP_CORK)


class Body:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.closed = False

    def __iter__(self):
        return iter(self.chunks)

    def close(self) -> None:
        self.closed = True


def test_the_connection_is_corked_until_the_last_item_is_written(tcp_pair):
    server, client = tcp_pair
    seen: list[int] = []
    inner = Body([b"header-and-", b"body"])

    def app(environ, start_response):
        seen.append(corked(server))
        start_response("200 OK", [])
        return inner

    body = CorkedResponses(app)({"gunicorn.socket": server}, lambda *a: None)
    assert seen == [1]
    while_writing = []
    for chunk in body:
        server.sendall(chunk)
        while_writing.append(corked(server))
    assert while_writing == [1, 1]
    # Uncorked once the server asked for more after the last item: before
    # close(), which gunicorn calls only after writing its access log line.
    assert corked(server) == 0
    body.close()
    assert inner.closed
    assert corked(server) == 0
    client.settimeout(2)
    got = b""
    while len(got) < len(b"header-and-body"):
        got += client.recv(100)
    assert got == b"header-and-body"


def test_a_body_never_iterated_is_uncorked_at_close(tcp_pair):
    server, _ = tcp_pair
    inner = Body([b"unsent"])
    body = CorkedResponses(lambda environ, start: inner)({"gunicorn.socket": server}, print)
    assert corked(server) == 1
    body.close()
    assert inner.closed and corked(server) == 0


def test_an_app_that_raises_leaves_the_connection_uncorked(tcp_pair):
    server, _ = tcp_pair

    def app(environ, start_response):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        CorkedResponses(app)({"gunicorn.socket": server}, lambda *a: None)
    assert corked(server) == 0


def test_a_file_response_is_handed_back_as_it_is_and_uncorked(tcp_pair):
    server, _ = tcp_pair

    class FileWrapper(Body):
        pass

    wrapped = FileWrapper([b"file"])
    body = CorkedResponses(lambda e, s: wrapped)(
        {"gunicorn.socket": server, "wsgi.file_wrapper": FileWrapper}, lambda *a: None
    )
    assert body is wrapped
    assert corked(server) == 0


def test_without_a_tcp_socket_the_app_is_called_untouched():
    inner = Body([b"x"])
    left, right = socket.socketpair()
    with left, right:
        for environ in ({}, {"gunicorn.socket": left}):
            assert CorkedResponses(lambda e, s: inner)(environ, lambda *a: None) is inner
