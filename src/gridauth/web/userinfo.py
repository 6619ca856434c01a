"""``/userinfo`` (OpenID Connect Core §5.3): claims about the person behind an access token.

A Bearer token comes as ``Authorization: Bearer``; a DPoP-bound one (RFC 9449 §7) as
``Authorization: DPoP`` with a ``DPoP`` proof header. The rules are ``oauth/dpop.py``'s.
"""

from __future__ import annotations

from typing import Any

from ..oauth.dpop import ALGORITHMS, InvalidDPoPProof, InvalidToken
from ..oauth.endpoints import active_access_token
from ..oauth.grants.membership import suspended
from ..oauth.openid import user_claims
from ..oauth.scopes import Membership
from .base import BaseHandler

SCHEMES = ("bearer", "dpop")
CHALLENGE = f'Bearer realm="gridauth", DPoP algs="{" ".join(ALGORITHMS)}"'


class UserInfoHandler(BaseHandler):
    """Answers for a valid, active access token issued to a user (not suspended), presented as its kind requires."""

    def _unauthorized(self, scheme: str, error: str, description: str) -> None:
        self.set_header("WWW-Authenticate", f'{scheme} error="{error}", error_description="{description}"')
        self.set_header("Cache-Control", "no-store")
        self.write_json({"error": error, "error_description": description}, 401)

    def _claims(self, scheme: str, token: str, proof: str | None) -> dict[str, Any] | None:
        context = self.context
        claims = active_access_token(context.keyring, context.tokens, context.clock.now(), token)
        if claims is None or "dirac_group" not in claims or suspended(self.registry, claims["sub"]):
            return None
        context.server.dpop.presented(scheme, token, claims, proof, self.request.method or "GET",
                                      self.request.full_url())
        membership = Membership(claims["sub"], claims["dirac_group"], claims["vo"],
                                tuple(claims.get("dirac_properties", ())))
        return user_claims(self.registry, membership, claims.get("scope", ""))

    async def _answer(self) -> None:
        auth = self.request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        scheme = scheme.lower()
        if scheme not in SCHEMES or len(auth) > 8192:
            # RFC 6750 §3.1: a request without credentials gets the challenge, no error code
            self.set_header("WWW-Authenticate", CHALLENGE)
            self.set_header("Cache-Control", "no-store")
            return self.write_json({"error": "invalid_request", "error_description": "a bearer token is required"},
                                   401)
        proofs = self.request.headers.get_list("DPoP")
        proof = ",".join(proofs) if proofs else None  # several proofs are refused as one malformed one
        shown = "DPoP" if scheme == "dpop" else "Bearer"
        try:
            claims = await self.context.db.run(self._claims, scheme, token.strip(), proof)
        except InvalidDPoPProof as error:
            return self._unauthorized("DPoP", error.error, error.description)
        except InvalidToken as error:
            return self._unauthorized(shown, "invalid_token", str(error))
        if claims is None:
            return self._unauthorized(shown, "invalid_token", "the access token is invalid, expired or revoked")
        self.set_header("Cache-Control", "no-store")
        self.write_json(claims)

    async def get(self) -> None:  # noqa: D102 - tornado verb
        await self._answer()

    async def post(self) -> None:  # noqa: D102 - tornado verb
        await self._answer()
