"""Slow clients held to deadlines by one sweep per second instead of two timers per request.

Tornado's own limits (``idle_connection_timeout``, 3600 s when not given, and ``body_timeout``) wrap
the read of every request's headers and of its body in ``gen.with_timeout``: two futures, two IOLoop
timers and their cancellation per request, a few per cent of the CPU of a client-credentials request
under load (py-spy, issue 12). The limits only need to hold to within a second, so
:class:`DeadlineHTTPServer` notes a deadline per connection in a dict when it starts waiting (a
request's headers: ``idle_timeout`` from the connection's opening or from the end of its previous
request; its body: ``body_timeout`` from its headers) and forgets it when the request has come in; a
``PeriodicCallback`` closes the connections whose deadline has passed. While a handler works on a
request no deadline runs, as with Tornado's limits.
"""

from __future__ import annotations

import time
from typing import Any

from tornado import httputil
from tornado.http1connection import HTTP1ServerConnection
from tornado.httpserver import HTTPServer
from tornado.ioloop import PeriodicCallback

SWEEP_INTERVAL = 1.0  # seconds: how late past its deadline a connection may be closed, at most


class DeadlineHTTPServer(HTTPServer):
    """Tornado's ``HTTPServer`` with the header and body deadlines kept by :meth:`sweep`."""

    def initialize(self, *args: Any, idle_timeout: float, body_timeout: float, **kwargs: Any) -> None:  # type: ignore[override]
        """As ``HTTPServer``'s, plus the two deadlines (in seconds); Tornado's own timeouts stay off."""
        super().initialize(*args, **kwargs)
        # Tornado waits for headers with a timer even when no idle timeout is given (3600 s): None turns it off.
        self.conn_params.header_timeout = None
        self.idle_timeout = idle_timeout
        self.body_timeout = body_timeout
        self.deadlines: dict[HTTP1ServerConnection, float] = {}
        self._sweeper = PeriodicCallback(self.sweep, min(SWEEP_INTERVAL, idle_timeout / 2, body_timeout / 2) * 1000)
        self._sweeper.start()

    def start_request(self, server_conn: object, request_conn: httputil.HTTPConnection) -> httputil.HTTPMessageDelegate:
        """Tornado waits for the next request's headers on *server_conn* from now on: start its idle deadline."""
        connection = server_conn if isinstance(server_conn, HTTP1ServerConnection) else None
        delegate = super().start_request(server_conn, request_conn)
        if connection is None:
            return delegate
        self.deadlines[connection] = time.monotonic() + self.idle_timeout
        return _Watched(delegate, self, connection)

    def on_close(self, server_conn: object) -> None:
        """A connection ended: nothing to watch any more."""
        self.deadlines.pop(server_conn, None)  # type: ignore[call-overload]
        super().on_close(server_conn)

    def sweep(self) -> None:
        """Close every connection whose request has not come in by its deadline."""
        now = time.monotonic()
        late = [connection for connection, deadline in self.deadlines.items() if deadline <= now]
        for connection in late:
            del self.deadlines[connection]
            connection.stream.close()

    def stop(self) -> None:
        """Stop listening and sweeping (the connections left are closed by ``close_all_connections``)."""
        self._sweeper.stop()
        super().stop()


class _Watched(httputil.HTTPMessageDelegate):
    """Passes one request on to Tornado's delegate, moving its connection's deadline as the request comes in."""

    __slots__ = ("delegate", "server", "connection")

    def __init__(self, delegate: httputil.HTTPMessageDelegate, server: DeadlineHTTPServer,
                 connection: HTTP1ServerConnection) -> None:
        self.delegate = delegate
        self.server = server
        self.connection = connection

    def headers_received(self, start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
                         headers: httputil.HTTPHeaders) -> Any:
        self.server.deadlines[self.connection] = time.monotonic() + self.server.body_timeout
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Any:
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        self.server.deadlines.pop(self.connection, None)
        self.delegate.finish()

    def on_connection_close(self) -> None:
        self.server.deadlines.pop(self.connection, None)
        self.delegate.on_connection_close()
