"""Discovery documents (RFC 8414, OpenID Connect Discovery) and the JWKS."""

from __future__ import annotations

from ..errors import DatabaseUnavailable
from .base import BaseHandler


class MetadataHandler(BaseHandler):
    """``/.well-known/openid-configuration`` and ``/.well-known/oauth-authorization-server``."""

    def get(self) -> None:  # noqa: D102 - tornado verb
        self.set_header("Cache-Control", "public, max-age=300")
        self.write_json(self.context.metadata(self.registry))


class JWKSHandler(BaseHandler):
    """``/jwks``: the current key and the retired ones still needed to verify tokens."""

    async def get(self) -> None:  # noqa: D102 - tornado verb
        try:
            jwks = await self.context.db.run(self.context.keyring.jwks)
        except DatabaseUnavailable:
            self.set_header("Retry-After", "5")
            return self.write_json({"error": "temporarily_unavailable",
                                    "error_description": "the database is unavailable; try again shortly"}, 503)
        self.set_header("Cache-Control", "public, max-age=60")
        self.write_json(jwks)
