"""The access-token issuer: RFC 9068 JWTs carrying the grid claims, signed by the key ring.

Claims are named as DiracX names them (``vo``, ``dirac_group``, ``dirac_properties``,
``preferred_username``) so DIRAC-aware services read them. A token that follows the WLCG Common
JWT Profile (``oauth/wlcg.py``: ``WLCGClaims`` for its VO, or asked with ``wlcg`` / ``wlcg.groups``)
carries the profile's claims first, in the profile's order, and gridauth's own after them. The
scope, the lifetime and the ``wlcg.groups`` come decided in a ``GrantedScope`` (``oauth/scopes.py``).

The ``jti`` of an access token issued to a user is ``<grant id>.<generation>.<random>``: the
token is active while its grant is not revoked and still at that generation (a refresh moves the
grant on), so access tokens need no row of their own. A client's own token (client credentials)
has a random ``jti`` and belongs to no grant. The ``jti`` stays opaque to clients (RFC 9068 §2.2).
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from authlib.oauth2.rfc6749.errors import InvalidGrantError
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator

from ..clock import Clock
from ..config.registry import Registry
from ..hashing import unique_id
from . import wlcg
from .audience import audience_claim
from .keys import KeyRing
from .models import GridUser, OAuthClient
from .scopes import GrantedScope, access_lifetime

WLCG_VERSION = wlcg.VERSION
# The audiences the current token request asked for (oauth/audience.py), set by the grant around
# the token's generation: authlib calls the generator without the request.
_ASKED: ContextVar[tuple[str, ...]] = ContextVar("asked_audiences", default=())


def token_id(user: GridUser | None) -> str:
    """The ``jti`` of a new access token: its grant and generation for a user, then an id no other token has."""
    if user is None:
        return unique_id(16)
    return f"{user.grant_id}.{user.generation}.{unique_id(8)}"


def grant_of(jti: str) -> tuple[str, int] | None:
    """The (grant id, generation) a ``jti`` made by :func:`token_id` names, or None (a client's token, or older)."""
    parts = jti.split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def refresh_token_value(**_: Any) -> str:
    """A refresh token's secret: 256 bits of randomness (the grant's fields are put before it, see ``carried.py``)."""
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
        return access_lifetime(self.registry(), client.client)

    def decided(self, client: OAuthClient, user: GridUser | None, scope: GrantedScope | str | None) -> GrantedScope:
        """*scope* as decided by the grant, or a plain string taken as it is (the VO's profile, the default groups)."""
        if isinstance(scope, GrantedScope):
            return scope
        registry = self.registry()
        member = user.membership if user else None
        profile = wlcg.follows_profile(registry, member.vo if member else None, None, ())
        groups = wlcg.default_groups(member.vo, member.group) if member and profile else ()
        return GrantedScope(scope or "", member, access_lifetime(registry, client.client), profile, groups)

    def claims(self, client: OAuthClient, grant_type: str, user: GridUser | None,
               scope: GrantedScope | str | None) -> dict[str, Any]:
        """Every claim of a new access token."""
        return token_claims(self.registry(), client.get_client_id(), user, self.decided(client, user, scope),
                            self.clock.now(), token_id(user), _ASKED.get())

    def access_token_generator(self, client: OAuthClient, grant_type: str, user: GridUser | None,
                               scope: str) -> str:
        """Sign the claims with the current key (``typ: at+jwt``)."""
        return self.keyring.sign(self.claims(client, grant_type, user, scope))

    def generate(self, grant_type: str, client: OAuthClient, user: GridUser | None = None,
                 scope: GrantedScope | str | None = None,
                 expires_in: int | None = None, include_refresh_token: bool = True,
                 jkt: str | None = None) -> dict[str, Any]:
        """authlib's token response; with *jkt*, the access token is bound to that DPoP key (RFC 9449 §6).

        A bound access token carries ``cnf.jkt`` and is answered with ``token_type: DPoP``. ``expires_in``
        is the granted lifetime, and ``scope`` the granted scope. Every grant's tokens come from here, so
        this is where a registered client's limit to its owner (or the groups an administrator allowed)
        holds for all of them (``registration.py``, rule 3).
        """
        if user is not None and not client.client.may_act_for(user.membership.username, user.membership.group):
            raise InvalidGrantError(f"client {client.client.name!r} may not get tokens for this user in this group")
        granted = self.decided(client, user, scope)
        if expires_in is not None and expires_in < granted.lifetime:
            granted = dataclasses.replace(granted, lifetime=expires_in)
        claims = self.claims(client, grant_type, user, granted)
        if jkt is not None:
            claims["cnf"] = {"jkt": jkt}
        token: dict[str, Any] = {"token_type": "DPoP" if jkt else "Bearer", "access_token": self.keyring.sign(claims),
                                 "expires_in": claims["exp"] - claims["iat"]}
        if include_refresh_token:
            token["refresh_token"] = refresh_token_value()
        if granted.text:
            token["scope"] = granted.text
        return token


def token_claims(registry: Registry, client_id: str | None, user: GridUser | None, granted: GrantedScope, now: int,
                 jti: str, asked_audiences: tuple[str, ...] = ()) -> dict[str, Any]:
    """The claims of an access token *granted* at *now*, in the order a reader expects them.

    Without the profile: the RFC 9068 claims, then gridauth's. With it (``granted.profile``): the
    profile's claims in its order (``wlcg.PROFILE_CLAIMS``), then ``client_id`` and the grid claims.
    Pure, so that the dry run (``oauth/preview.py``) shows the very claims a token would carry.
    """
    settings = registry.settings
    claims: dict[str, Any] = {
        "iss": settings.issuer,
        "sub": user.get_user_id() if user else client_id,
        "aud": audience_claim(asked_audiences, settings.audience or settings.issuer),
        "exp": now + granted.lifetime,
        "iat": now,
        "nbf": now,
        "jti": jti,
        "client_id": client_id,
        "scope": granted.text,
    }
    if client_id is None:
        del claims["client_id"]
    if granted.profile:
        claims["wlcg.ver"] = wlcg.VERSION
        if granted.wlcg_groups:
            claims["wlcg.groups"] = list(granted.wlcg_groups)
        order = [name for name in wlcg.PROFILE_CLAIMS if name in claims]
        claims = {**{name: claims[name] for name in order}, **claims}
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
        if user.actor:  # a token exchange's delegation (RFC 8693 §4.1)
            claims["act"] = user.actor
    return claims
