"""``/userinfo`` (OpenID Connect Core §5.3): claims about the person behind an access token.

A Bearer token comes as ``Authorization: Bearer``; a DPoP-bound one (RFC 9449 §7) as
``Authorization: DPoP`` with a ``DPoP`` proof header. Who is calling is ``ResourceHandler``'s
(``oauth/resource.py``'s rules), shared with the admin API.
"""

from __future__ import annotations

from ..oauth.openid import user_claims
from ..oauth.scopes import Membership
from .resource import ResourceHandler


class UserInfoHandler(ResourceHandler):
    """Answers for a valid, active access token issued to a user (not suspended), presented as its kind requires."""

    async def _answer(self) -> None:
        claims = await self.caller()
        if claims is None:
            return
        membership = Membership(claims["sub"], claims["dirac_group"], claims["vo"],
                                tuple(claims.get("dirac_properties", ())))
        self.set_header("Cache-Control", "no-store")
        self.write_json(user_claims(self.registry, membership, claims.get("scope", "")))

    async def get(self) -> None:  # noqa: D102 - tornado verb
        await self._answer()

    async def post(self) -> None:  # noqa: D102 - tornado verb
        await self._answer()
