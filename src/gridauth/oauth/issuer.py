"""The access-token issuer: RFC 9068 JWTs carrying the grid claims, signed by the key ring.

Claims are named as DiracX names them (``vo``, ``dirac_group``, ``dirac_properties``,
``preferred_username``) so DIRAC-aware services read them; the WLCG profile claims are added when
``WLCGClaims = yes``.

The ``jti`` of an access token issued to a user is ``<grant id>.<generation>.<random>``: the
token is active while its grant is not revoked and still at that generation (a refresh moves the
grant on), so access tokens need no row of their own. A client's own token (client credentials)
has a random ``jti`` and belongs to no grant. The ``jti`` stays opaque to clients (RFC 9068 §2.2).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from authlib.oauth2.rfc6749.errors import InvalidGrantError
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator

from ..clock import Clock
from ..config.registry import Registry
from .audience import audience_claim
from .keys import KeyRing
from .models import GridUser, OAuthClient

WLCG_VERSION = "1.0"
# The audiences the current token request asked for (oauth/audience.py), set by the grant around
# the token's generation: authlib calls the generator without the request.
_ASKED: ContextVar[tuple[str, ...]] = ContextVar("asked_audiences", default=())


def token_id(user: GridUser | None) -> str:
    """The ``jti`` of a new access token: its grant and generation for a user, random for a client."""
    if user is None:
        return secrets.token_hex(16)
    return f"{user.grant_id}.{user.generation}.{secrets.token_hex(8)}"


def grant_of(jti: str) -> tuple[str, int] | None:
    """The (grant id, generation) a ``jti`` made by :func:`token_id` names, or None (a client's token, or older)."""
    parts = jti.split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def refresh_token_value(**_: Any) -> str:
    """An opaque refresh token: 256 bits of randomness."""
    return secrets.token_urlsafe(32)


class AccessTokenIssuer(JWTBearerTokenGenerator):
    """Makes the token response: a signed JWT access token and, for user grants, an opaque refresh token."""

    def __init__(self, keyring: KeyRing, clock: Clock, registry: Callable[[], Registry]) -> None:
        super().__init__(issuer="", refresh_token_generator=refresh_token_value, expires_generator=self.lifetime)
        self.keyring = keyring
        self.clock = clock
        self.registry = registry

    @staticmethod
    @contextlib.contextmanager
    def audience(asked: tuple[str, ...]) -> Iterator[None]:
        """Give the access tokens generated in this block *asked* as their ``aud`` (already checked)."""
        reset = _ASKED.set(asked)
        try:
            yield
        finally:
            _ASKED.reset(reset)

    def lifetime(self, client: OAuthClient, grant_type: str) -> int:
        """Access-token lifetime: the client's own, else ``AccessTokenLifetime`` (20 minutes by default)."""
        own = client.client.access_token_lifetime
        return own if own is not None else self.registry().settings.lifetimes.access_token

    def claims(self, client: OAuthClient, grant_type: str, user: GridUser | None, scope: str,
               expires_in: int | None = None) -> dict[str, Any]:
        """Every claim of a new access token; it lives *expires_in* seconds, else :meth:`lifetime`."""
        settings = self.registry().settings
        now = self.clock.now()
        claims: dict[str, Any] = {
            "iss": settings.issuer,
            "sub": user.get_user_id() if user else client.get_client_id(),
            "aud": audience_claim(_ASKED.get(), settings.audience or settings.issuer),
            "exp": now + (expires_in or self.lifetime(client, grant_type)),
            "iat": now,
            "nbf": now,
            "jti": token_id(user),
            "client_id": client.get_client_id(),
            "scope": scope,
        }
        if user is not None:
            member = user.membership
            claims.update({
                "preferred_username": member.username,
                "vo": member.vo,
                "dirac_group": member.group,
                "dirac_properties": list(member.properties),
            })
            if user.auth_time:
                claims["auth_time"] = user.auth_time
            if user.actor:
                claims["act"] = user.actor
            if settings.wlcg_claims:
                claims["wlcg.ver"] = WLCG_VERSION
                claims["wlcg.groups"] = [f"/{member.vo}", f"/{member.vo}/{member.group}"]
        return claims

    def access_token_generator(self, client: OAuthClient, grant_type: str, user: GridUser | None,
                               scope: str) -> str:
        """Sign the claims with the current key (``typ: at+jwt``)."""
        return self.keyring.sign(self.claims(client, grant_type, user, scope))

    def generate(self, grant_type: str, client: OAuthClient, user: GridUser | None = None, scope: str | None = None,
                 expires_in: int | None = None, include_refresh_token: bool = True,
                 jkt: str | None = None) -> dict[str, Any]:
        """authlib's token response; with *jkt*, the access token is bound to that DPoP key (RFC 9449 §6).

        A bound access token carries ``cnf.jkt`` and is answered with ``token_type: DPoP``. Every
        grant's tokens come from here, so this is where a registered client's limit to its owner (or
        the groups an administrator allowed) holds for all of them (``registration.py``, rule 3).
        """
        if user is not None and not client.client.may_act_for(user.membership.username, user.membership.group):
            raise InvalidGrantError(f"client {client.client.name!r} may not get tokens for this user in this group")
        scope = self.get_allowed_scope(client, scope)
        claims = self.claims(client, grant_type, user, scope, expires_in)
        if jkt is not None:
            claims["cnf"] = {"jkt": jkt}
        token: dict[str, Any] = {"token_type": "DPoP" if jkt else "Bearer", "access_token": self.keyring.sign(claims),
                                 "expires_in": expires_in or self.lifetime(client, grant_type)}
        if include_refresh_token:
            token["refresh_token"] = refresh_token_value()
        if scope:
            token["scope"] = scope
        return token
