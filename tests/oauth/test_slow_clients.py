"""Slow clients: a connection that sends its headers or body too slowly, or idles between requests, is closed.

``gridauth serve --idle-timeout`` bounds the wait for a request's headers (from the connection's
opening, or from the end of the previous request on a kept-alive connection) and ``--body-timeout``
the wait for its body, so a client that trickles bytes holds a connection for that long at most.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .real_serve import Serve, serving


@pytest.fixture
def server(config_file: Path, tmp_path: Path) -> Iterator[Serve]:
    yield from serving(config_file, f"sqlite:///{tmp_path / 'state.sqlite'}", tmp_path,
                       "--idle-timeout", "1", "--body-timeout", "1")


def _connect(server: Serve) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=20)
    return sock


def _closed_by_server(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (fails if it keeps it open 20 s)."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_headers_sent_too_slowly_end_the_connection(server):
    with _connect(server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n")  # and never the blank line
        started = time.monotonic()
        assert _closed_by_server(sock) == b""
    assert time.monotonic() - started < 20


def test_a_body_sent_too_slowly_ends_the_connection(server):
    with _connect(server) as sock:
        sock.sendall(b"POST /token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: 100\r\n\r\ngrant_type=")
        assert _closed_by_server(sock) == b""


def test_an_idle_kept_alive_connection_is_closed(server):
    with _connect(server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        received = _closed_by_server(sock)  # the answer, then the close once the connection idles
    assert received.startswith(b"HTTP/1.1 200 ") and b'"status": "ok"' in received


def test_a_request_sent_in_time_is_served(server):
    with _connect(server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n")
        time.sleep(0.3)
        sock.sendall(b"Connection: close\r\n\r\n")
        assert _closed_by_server(sock).startswith(b"HTTP/1.1 200 ")
