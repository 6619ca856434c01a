"""Base of the protocol endpoints: run authlib off the IOLoop and write its answer, errors as RFC 6749 JSON.

``OAuthEndpoint`` holds what an endpoint does with a request, whatever serves the HTTP: the token,
revocation and introspection endpoints are served without ``RequestHandler`` (``lean.py``), the
registration and device authorization endpoints through it (``OAuthHandler``).
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from authlib.oauth2.base import OAuth2Error
from tornado.httputil import HTTPServerRequest

from .. import audit
from ..config.registry import Registry
from ..errors import DatabaseUnavailable, SchemaMismatch
from ..service import ServiceContext
from .access import client_id_of
from .base import SCHEMA_ERROR, BaseHandler
from .oauth_request import TornadoOAuth2Request, build_oauth_request

log = logging.getLogger("gridauth.web")

Response = tuple[int, Any, list[tuple[str, str]]]
T = TypeVar("T")
NO_STORE = [("Content-Type", "application/json"), ("Cache-Control", "no-store"), ("Pragma", "no-cache")]


class OAuthEndpoint(ABC):
    """Adapts one Tornado request to authlib and back; protocol rules live in the oauth package.

    What carries the HTTP gives the request, the service and the registry snapshot taken when the
    request arrived, and writes the answer (:meth:`write_response`).
    """

    request: HTTPServerRequest
    context: ServiceContext
    registry: Registry

    async def run_endpoint(self, work: Callable[[TornadoOAuth2Request], Response]) -> None:
        """Build authlib's request, run *work* on a database worker with this request's registry, write the result."""
        await self.answer(lambda oauth_request: self.on_worker(work, oauth_request))

    async def on_worker(self, work: Callable[[TornadoOAuth2Request], T], oauth_request: TornadoOAuth2Request) -> T:
        """Run *work* on a database worker with this request's registry bound (authlib needs it on that thread)."""
        registry, server, address = self.registry, self.context.server, self.request.remote_ip

        def call() -> T:
            with server.bound(registry), audit.request(address, None):
                return work(oauth_request)

        return await self.context.db.run(call)

    async def answer(self, steps: Callable[[TornadoOAuth2Request], Awaitable[Response]],
                     build: Callable[[HTTPServerRequest], TornadoOAuth2Request] = build_oauth_request) -> None:
        """Build authlib's request, await *steps* on it, write the result: errors as RFC 6749 JSON, outages as 503."""
        try:
            oauth_request = build(self.request)
        except OAuth2Error as error:
            response = error()
            self.answered(*response)
            return self.write_response(*response)
        try:
            response = await steps(oauth_request)
        except DatabaseUnavailable as exc:
            log.warning("%s %s: %s", self.request.method, self.request.path, exc)
            response = (503, {"error": "temporarily_unavailable",
                              "error_description": "the database is unavailable; try again shortly"},
                        [*NO_STORE, ("Retry-After", "5")])
        except SchemaMismatch as exc:  # not an outage: waiting will not fix it, `gridauth db upgrade` will
            log.error("%s %s: %s", self.request.method, self.request.path, exc)
            response = (500, SCHEMA_ERROR, NO_STORE)
        except OAuth2Error as error:
            response = error()
        except Exception:
            log.exception("%s %s failed", self.request.method, self.request.path)
            response = (500, {"error": "server_error", "error_description": "internal error"}, NO_STORE)
        self.answered(*response)
        if response[0] >= 400 and isinstance(response[1], dict):
            self.audit_refusal(response[1], oauth_request)
        self.write_response(*response)

    def audit_refusal(self, body: dict[str, Any], oauth_request: TornadoOAuth2Request) -> None:
        """Hook: an error answer for the audit log; here a failed client authentication, whatever the endpoint."""
        if body.get("error") == "invalid_client":
            audit.record("client_auth_failed", "failure", client=claimed_client(self, oauth_request),
                         address=self.request.remote_ip, error="invalid_client", reason=body.get("error_description"))

    def answered(self, status: int, body: Any, headers: list[tuple[str, str]]) -> None:  # noqa: B027 - a hook
        """Hook: the answer, just before it is written.

        The token endpoint counts it here, so that a scrape made once the client has its answer includes it.
        """

    @abstractmethod
    def write_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> None:
        """Write authlib's (status, body, headers) and end the request."""


class OAuthHandler(OAuthEndpoint, BaseHandler):
    """An endpoint served through Tornado's ``RequestHandler``: registration, device authorization."""

    def check_xsrf_cookie(self) -> None:  # noqa: D102 - protocol endpoints authenticate clients, not cookies
        return None

    def write_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> None:
        """Write authlib's (status, body, headers) through the ``RequestHandler``."""
        self.set_status(status)
        for name, value in headers:
            self.set_header(name, value)
        if status == 204:  # no content (RFC 7592 §2.3): Tornado refuses even an empty body
            self.finish()
        else:
            self.finish(body_text(body))


def body_text(body: Any) -> str:
    """The text of an answer's *body*: authlib gives a dict or a list (sent as JSON), a string, or nothing."""
    return json.dumps(body) if isinstance(body, dict | list) else (body or "")


def claimed_client(endpoint: OAuthEndpoint, oauth_request: TornadoOAuth2Request) -> str | None:
    """The client of a request: the authenticated one, else the identifier it claimed (never its secret)."""
    if oauth_request.client is not None:
        return str(oauth_request.client.get_client_id())
    return client_id_of(endpoint.request)
