"""Base of the protocol endpoints: run authlib off the IOLoop and write its answer, errors as RFC 6749 JSON."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from authlib.oauth2.base import OAuth2Error

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

        def call() -> Response:
            with server.bound(registry):
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
        self.write_response(*response)

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
