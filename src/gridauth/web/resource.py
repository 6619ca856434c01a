"""Base of the issuer's resource endpoints (``/userinfo``, the admin API): who is calling, or a 401 and challenge."""

from __future__ import annotations

from typing import Any

from ..oauth.resource import Unauthorized, user_token
from .base import BaseHandler


class ResourceHandler(BaseHandler):
    """A handler whose requests carry a user's access token (``oauth/resource.py`` holds the rules)."""

    def unauthorized(self, refusal: Unauthorized) -> None:
        """The RFC 6750 / RFC 9449 answer to a request without a usable token."""
        self.set_header("WWW-Authenticate", refusal.challenge)
        self.set_header("Cache-Control", "no-store")
        self.write_json({"error": refusal.error or "invalid_request", "error_description": refusal.description}, 401)

    async def caller(self) -> dict[str, Any] | None:
        """The claims of the caller's active user token; None once the 401 has been written."""
        context = self.context
        try:
            return await context.db.run(user_token, context.keyring, context.tokens, context.server.dpop,
                                        self.registry, context.clock.now(),
                                        self.request.headers.get("Authorization", ""),
                                        self.request.headers.get_list("DPoP"), self.request.method or "GET",
                                        self.request.full_url())
        except Unauthorized as refusal:
            self.unauthorized(refusal)
            return None
