"""Base of the protocol endpoints: run authlib off the IOLoop and write its answer, errors as RFC 6749 JSON."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from authlib.oauth2.base import OAuth2Error

from .. import audit
from ..errors import DatabaseUnavailable, SchemaMismatch
from .base import SCHEMA_ERROR, BaseHandler
from .oauth_request import TornadoOAuth2Request, build_oauth_request

log = logging.getLogger("gridauth.web")

Response = tuple[int, Any, list[tuple[str, str]]]
NO_STORE = [("Content-Type", "application/json"), ("Cache-Control", "no-store"), ("Pragma", "no-cache")]


class OAuthHandler(BaseHandler):
    """Adapts one Tornado request to authlib and back; protocol rules live in the oauth package."""

    def check_xsrf_cookie(self) -> None:  # noqa: D102 - protocol endpoints authenticate clients, not cookies
        return None

    async def run_endpoint(self, work: Callable[[TornadoOAuth2Request], Response]) -> None:
        """Build authlib's request, run *work* on a database worker with this request's registry, write the result."""
        try:
            oauth_request = build_oauth_request(self.request)
        except OAuth2Error as error:
            response = error()
            self.answered(*response)
            return self.write_response(*response)
        registry = self.registry
        server = self.context.server
        address = self.request.remote_ip

        def call() -> Response:
            with server.bound(registry), audit.request(address, None):
                return work(oauth_request)

        try:
            response = await self.context.db.run(call)
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

    def answered(self, status: int, body: Any, headers: list[tuple[str, str]]) -> None:
        """Hook: the answer, just before it is written.

        The token endpoint counts it here, so that a scrape made once the client has its answer includes it.
        """

    def write_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> None:
        """Write authlib's (status, body, headers)."""
        self.set_status(status)
        for name, value in headers:
            self.set_header(name, value)
        self.finish(json.dumps(body) if isinstance(body, dict | list) else (body or ""))


def claimed_client(handler: BaseHandler, oauth_request: TornadoOAuth2Request) -> str | None:
    """The client of a request: the authenticated one, else the identifier it claimed (never its secret)."""
    if oauth_request.client is not None:
        return str(oauth_request.client.get_client_id())
    from .app import client_id_of  # the route table imports this module: imported when first needed

    return client_id_of(handler)
