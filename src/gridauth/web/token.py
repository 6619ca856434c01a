"""``POST /token`` (RFC 6749 §3.2): every grant, JSON answers with ``Cache-Control: no-store``."""

from __future__ import annotations

from typing import Any

from .. import metrics
from .oauth_handler import OAuthHandler


class TokenHandler(OAuthHandler):
    """The token endpoint; each answer is counted by grant type and error code (``/metrics``)."""

    async def post(self) -> None:  # noqa: D102 - tornado verb
        await self.run_endpoint(self.context.server.create_token_response)

    def answered(self, status: int, body: Any, headers: list[tuple[str, str]]) -> None:  # noqa: D102 - hook
        sent = self.request.body_arguments.get("grant_type", [])
        grant_type = sent[0].decode("utf-8", "replace") if len(sent) == 1 else ""
        metrics.record_token_response(grant_type, status, body)


class RevocationHandler(OAuthHandler):
    """``POST /revoke`` (RFC 7009)."""

    async def post(self) -> None:  # noqa: D102 - tornado verb
        server = self.context.server
        await self.run_endpoint(lambda r: server.create_endpoint_response("revocation", r))


class IntrospectionHandler(OAuthHandler):
    """``POST /introspect`` (RFC 7662), for resource servers registered as confidential clients."""

    async def post(self) -> None:  # noqa: D102 - tornado verb
        server = self.context.server
        await self.run_endpoint(lambda r: server.create_endpoint_response("introspection", r))
