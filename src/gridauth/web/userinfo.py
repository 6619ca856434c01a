"""``/userinfo`` (OpenID Connect Core §5.3): claims about the person behind an access token."""

from __future__ import annotations

from typing import Any

from ..oauth.endpoints import active_access_token
from ..oauth.openid import user_claims
from ..oauth.scopes import Membership
from .base import BaseHandler


class UserInfoHandler(BaseHandler):
    """Answers for a valid, active access token issued to a user (RFC 6750 bearer)."""

    def _unauthorized(self, error: str, description: str, status: int = 401) -> None:
        self.set_header("WWW-Authenticate", f'Bearer error="{error}", error_description="{description}"')
        self.set_header("Cache-Control", "no-store")
        self.write_json({"error": error, "error_description": description}, status)

    def _claims(self, token: str) -> dict[str, Any] | None:
        context = self.context
        claims = active_access_token(context.keyring, context.tokens, context.clock.now(), token)
        if claims is None or "dirac_group" not in claims:
            return None
        membership = Membership(claims["sub"], claims["dirac_group"], claims["vo"],
                                tuple(claims.get("dirac_properties", ())))
        return user_claims(self.registry, membership, claims.get("scope", ""))

    async def _answer(self) -> None:
        auth = self.request.headers.get("Authorization", "")
        if not auth.lower().startswith("bearer ") or len(auth) > 8192:
            # RFC 6750 §3.1: a request without credentials gets the challenge, no error code
            self.set_header("WWW-Authenticate", 'Bearer realm="gridauth"')
            self.set_header("Cache-Control", "no-store")
            return self.write_json({"error": "invalid_request", "error_description": "a bearer token is required"},
                                   401)
        claims = await self.context.db.run(self._claims, auth[7:].strip())
        if claims is None:
            return self._unauthorized("invalid_token", "the access token is invalid, expired or revoked")
        self.set_header("Cache-Control", "no-store")
        self.write_json(claims)

    async def get(self) -> None:  # noqa: D102 - tornado verb
        await self._answer()

    async def post(self) -> None:  # noqa: D102 - tornado verb
        await self._answer()
