"""Discovery documents (RFC 8414, OpenID Connect Discovery) and the JWKS."""

from __future__ import annotations

import asyncio

from ..errors import DatabaseUnavailable
from .base import BaseHandler

JWKS_WAIT = 1.0  # seconds; then the JWKS in memory is served


class MetadataHandler(BaseHandler):
    """``/.well-known/openid-configuration`` and ``/.well-known/oauth-authorization-server``."""

    def get(self) -> None:  # noqa: D102 - tornado verb
        self.set_header("Cache-Control", "public, max-age=300")
        self.write_json(self.context.metadata(self.registry))


class JWKSHandler(BaseHandler):
    """``/jwks``: the current key and the retired ones still needed to verify tokens (from memory in an outage)."""

    async def get(self) -> None:  # noqa: D102 - tornado verb
        ring = self.context.keyring
        try:  # the keys as the database has them now, or, when it does not answer in time, as this process has them
            jwks = await asyncio.wait_for(self.context.db.run(ring.jwks), JWKS_WAIT)
        except (DatabaseUnavailable, TimeoutError):
            jwks = ring.published_jwks()
        if not jwks["keys"]:
            self.set_header("Retry-After", "5")
            return self.write_json({"error": "temporarily_unavailable",
                                    "error_description": "the database is unavailable; try again shortly"}, 503)
        self.set_header("Cache-Control", "public, max-age=60")
        self.write_json(jwks)
