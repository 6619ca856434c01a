"""``POST /token`` (RFC 6749 §3.2): every grant, JSON answers with ``Cache-Control: no-store``."""

from __future__ import annotations

from .oauth_handler import OAuthHandler


class TokenHandler(OAuthHandler):
    """The token endpoint."""

    async def post(self) -> None:  # noqa: D102 - tornado verb
        await self.run_endpoint(self.context.server.create_token_response)


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
