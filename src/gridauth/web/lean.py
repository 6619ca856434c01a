"""The protocol endpoints that grids call all day, served without ``tornado.web.RequestHandler``.

``POST /token``, ``/introspect`` and ``/revoke`` take a form and answer JSON with a few fixed headers;
nothing of what a ``RequestHandler`` sets up for every request (cookies, XSRF, templates, the
``prepare``/``on_finish`` cycle, the header machinery and its checks) is used by them, and it cost
more CPU than a token's signature: a bare Tornado delegate answering a fixed token serves 1.66 times
the requests per CPU-second of a bare ``RequestHandler`` doing the same (issue 12, measured on this
machine). Tornado's public routing API hands these POSTs to a delegate of ours (a ``RuleRouter``
whose ``get_target_delegate``, its documented extension point, knows our target); every other
request, other methods on these paths included, goes on to the ``Application``. The endpoints'
logic is ``OAuthEndpoint``'s, as for those served through a ``RequestHandler``; only how the answer
is written differs, and every answer still has its access line and request metrics
(``access.record``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import abstractmethod
from typing import Any, ClassVar

from tornado import httputil
from tornado.routing import AnyMatches, Matcher, Rule, RuleRouter
from tornado.web import Application

from ..service import ServiceContext
from . import access
from .oauth_handler import NO_STORE, OAuthEndpoint, body_text

log = logging.getLogger("gridauth.web")
INTERNAL_ERROR = {"error": "server_error", "error_description": "internal error"}
UNREADABLE_BODY = {"error": "invalid_request", "error_description": "the request body cannot be read"}


class LeanEndpoint(OAuthEndpoint):
    """One request to a protocol endpoint: its rules are ``OAuthEndpoint``'s, its answer written on the connection."""

    route: ClassVar[str]  # the path served, also the label of the request's metrics

    def __init__(self, context: ServiceContext, request: httputil.HTTPServerRequest, refusal: str = "") -> None:
        self.context = context
        self.request = request
        self.registry = context.registry  # the snapshot of this request, taken once when it arrives
        self.refusal = refusal  # why the body could not be read (Tornado's words), for the access line
        self.written = False

    @abstractmethod
    async def post(self) -> None:
        """Answer the request (with :meth:`write_response`, exactly once)."""

    async def respond(self) -> None:
        """Run :meth:`post`; anything it let escape is logged and answered 500 in JSON, never a traceback.

        A body Tornado could not read (a broken multipart body, a ``Content-Encoding``) is answered 400
        ``invalid_request`` instead, as a ``RequestHandler`` answers it.
        """
        if self.refusal:
            return self.write_response(400, UNREADABLE_BODY, NO_STORE)
        try:
            await self.post()
        except Exception:
            log.exception("%s %s failed", self.request.method, self.request.path)
            if not self.written:
                self.write_response(500, INTERNAL_ERROR, NO_STORE)

    def write_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> None:
        """Write the status line, the headers and the JSON *body*, end the request and leave its access line."""
        payload = body_text(body).encode("utf-8")
        fields = httputil.HTTPHeaders()
        for name, value in (*_first_headers(), *headers):
            fields[name] = value
        fields["Content-Length"] = str(len(payload))
        connection = self.request.connection
        assert connection is not None
        reason = httputil.responses.get(status, "Unknown")
        connection.write_headers(httputil.ResponseStartLine("HTTP/1.1", status, reason), fields, payload)
        self.written = True
        connection.finish()  # a client already gone: Tornado drops the answer and closes the stream
        access.record(self.request, status, self.route, self.refusal)


_date: list[tuple[int, str]] = [(-1, "")]  # the last whole second formatted as an HTTP date


def _first_headers() -> tuple[tuple[str, str], ...]:
    """What every answer starts with, in the order ``RequestHandler`` writes them: a JSON ``Content-Type`` (which
    the endpoint's own replaces in place), ``Date`` (formatted once per second) and ``nosniff`` (``BaseHandler``'s)."""
    now = int(time.time())
    second, text = _date[0]
    if second != now:
        text = httputil.format_timestamp(now)
        _date[0] = (now, text)
    return ("Content-Type", "application/json"), ("Date", text), ("X-Content-Type-Options", "nosniff")


class _Exchange(httputil.HTTPMessageDelegate):
    """One request on its way in, its head already read (by the router); when its body is in, its endpoint starts."""

    __slots__ = ("route", "request", "chunks")

    def __init__(self, route: LeanRoute, request: httputil.HTTPServerRequest) -> None:
        self.route = route
        self.request = request
        self.chunks: list[bytes] = []

    def headers_received(self, start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
                         headers: httputil.HTTPHeaders) -> None:
        """Nothing to do: the router made the request of this head."""

    def data_received(self, chunk: bytes) -> None:
        self.chunks.append(chunk)

    def finish(self) -> None:
        request = self.request
        request.body = b"".join(self.chunks)
        # The body's parameters where Tornado would have put them (the access line's client_id reads them).
        try:
            httputil.parse_body_arguments(request.headers.get("Content-Type", ""), request.body,
                                          request.body_arguments, request.files, request.headers)
        except httputil.HTTPInputError as error:
            return self.route.start(request, f"Invalid body: {error}"[:200])
        for name, values in request.body_arguments.items():
            request.arguments.setdefault(name, []).extend(values)
        self.route.start(request)

    def on_connection_close(self) -> None:
        self.chunks = []  # gone before its body came in: nothing was started


class LeanRoute:
    """The target of one endpoint's rule: the endpoint to start, and those in progress."""

    def __init__(self, endpoint: type[LeanEndpoint], context: ServiceContext) -> None:
        self.endpoint = endpoint
        self.context = context
        self.running: set[asyncio.Task[None]] = set()  # referenced until done: the loop keeps only weak ones

    def start(self, request: httputil.HTTPServerRequest, refusal: str = "") -> None:
        """Answer the complete *request* on the IOLoop (its endpoint awaits the database workers); with
        *refusal*, the reason its body could not be read, answer it 400."""
        task = asyncio.get_running_loop().create_task(self.endpoint(self.context, request, refusal).respond())
        self.running.add(task)
        task.add_done_callback(self.running.discard)


class PostTo(Matcher):
    """Matches a POST to exactly *path* (another method goes on, to be answered 405 by the application)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def match(self, request: httputil.HTTPServerRequest) -> dict[str, Any] | None:  # noqa: D102 - tornado hook
        return {} if request.method == "POST" and request.path == self.path else None


class LeanRouter(RuleRouter):
    """Tornado's rule router, whose rules may also target a :class:`LeanRoute` (given the request it routed)."""

    def get_target_delegate(self, target: Any, request: httputil.HTTPServerRequest,
                            **target_params: Any) -> httputil.HTTPMessageDelegate | None:
        """The documented extension point of ``RuleRouter`` for a target type of its own."""
        if isinstance(target, LeanRoute):
            return _Exchange(target, request)
        return super().get_target_delegate(target, request, **target_params)


def router(endpoints: list[type[LeanEndpoint]], context: ServiceContext, application: Application) -> LeanRouter:
    """What serves every request: the POSTs of each of *endpoints* by it, anything else by *application*."""
    return LeanRouter([*(Rule(PostTo(endpoint.route), LeanRoute(endpoint, context)) for endpoint in endpoints),
                       Rule(AnyMatches(), application)])
