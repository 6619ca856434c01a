"""Revocation (RFC 7009) and introspection (RFC 7662) endpoints on authlib's classes."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc7009 import RevocationEndpoint as _Revocation
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _Introspection

from .. import audit
from ..db.tokens import TokenStore
from .grants.membership import suspended
from .issuer import grant_of
from .keys import KeyRing
from .models import AccessTokenView, OAuthClient, TokenRef
from .scopes import ScopeRequest
from .services import GrantServices

MAX_TOKEN_LENGTH = 8192


def active_access_token(keyring: KeyRing, tokens: TokenStore, now: int, token: str) -> dict[str, Any] | None:
    """The claims of *token* when it is one of our access tokens and active now, else None.

    Active: the signature verifies, it has not expired, it is not on the deny list, and the grant it
    belongs to (if any) is not revoked and still at the token's generation. A token from before
    revision 0002 belongs to the grant recorded for it at the upgrade, at generation 0.
    """
    claims = keyring.verify(token, typ="at+jwt")
    if not claims or not isinstance(claims.get("jti"), str) or not isinstance(claims.get("exp"), int):
        return None
    if claims["exp"] <= now:
        return None
    jti = claims["jti"]
    named = grant_of(jti)
    legacy = named is None and "dirac_group" in claims  # a user's token always names its grant since 0002
    state = tokens.token_state(jti, named[0] if named else None, legacy)
    if state.denied:
        return None
    if state.grant_id is not None:
        grant = state.grant
        generation = named[1] if named else 0
        if grant is None or grant.revoked_at is not None or grant.generation != generation:
            return None
    return claims


def find_token(server: GrantServices, token: str) -> TokenRef | None:
    """Find an active access token (a JWT of ours) or a refresh token (by hash); None when unknown or inactive."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    now = server.clock.now()
    if token.count(".") == 2:
        claims = active_access_token(server.keyring, server.tokens, now, token)
        if claims is None:
            return None
        view = AccessTokenView.of(claims)
        return TokenRef("access_token", view.client_id, view, now, claims)
    grant = server.tokens.grant_by_refresh_token(token)
    return TokenRef("refresh_token", grant.client_id, grant, now) if grant else None


def token_user(token: TokenRef) -> str | None:
    """The registry user *token* was issued to (a refresh token's grant's, a user's access token's ``sub``); None
    for a client's own token."""
    if token.kind == "refresh_token":
        return str(token.row.username)
    return token.claims["sub"] if "dirac_group" in token.claims else None


def bound_key(token: TokenRef) -> str | None:
    """The DPoP key *token* is bound to: an access token's ``cnf.jkt``, a refresh token's grant key; else None."""
    if token.kind == "access_token":
        cnf = token.claims.get("cnf")
        jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
        return jkt if isinstance(jkt, str) else None
    return getattr(token.row, "dpop_jkt", None)


class AnyHint:
    """``token`` is required; any ``token_type_hint`` is accepted, even one we do not know.

    RFC 7009 §2.1: a hint the server does not understand is ignored and every kind of token is
    searched; RFC 7662 §2.1 lets introspection ignore it too (authlib refuses both with
    ``unsupported_token_type``). :func:`find_token` never needs the hint: it tells the two kinds
    apart by their shape.
    """

    def check_params(self, request: Any, client: OAuthClient) -> None:  # noqa: D102 - authlib hook
        if "token" not in request.form:
            raise InvalidRequestError()


class RevocationEndpoint(AnyHint, _Revocation):
    """Revoking a refresh token ends its grant (with every access token from it); an access token, itself alone."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    server: GrantServices

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenRef | None:  # noqa: D102
        return find_token(self.server, token_string)

    def revoke_token(self, token: TokenRef, request: Any) -> None:  # noqa: D102 - authlib interface
        if token.kind == "refresh_token":
            self.server.tokens.revoke_grant(token.row.id, token.now)
            user, group = token.row.username, token.row.group_name
        else:
            self.server.tokens.revoke_access_token(token.row.jti, token.row.expires_at)
            user, group = token.claims.get("sub"), token.claims.get("dirac_group")
        audit.record("token_revoked", user=user, group=group, client=token.client_id, kind=token.kind)


class IntrospectionEndpoint(AnyHint, _Introspection):
    """For resource servers: confidential clients may introspect any token of this issuer (a suspended user's:
    inactive)."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
    server: GrantServices

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenRef | None:
        """The active token, as :func:`find_token` finds it; inactive too while its user is suspended.

        Only here and at ``/userinfo``: a suspended user's client may still revoke its tokens.
        """
        token = find_token(self.server, token_string)
        if token is not None and suspended(self.server.registry(), token_user(token)):
            return None
        return token

    def check_permission(self, token: TokenRef, client: OAuthClient, request: Any) -> bool:  # noqa: D102
        return not client.is_public

    def introspect_token(self, token: TokenRef) -> dict[str, Any]:
        """RFC 7662 fields plus the grid claims (VO, group, properties)."""
        row = token.row
        settings = self.server.registry().settings
        body: dict[str, Any] = {
            "active": True,
            "client_id": row.client_id,
            "scope": row.scope,
            "exp": row.expires_at,
            "iat": row.issued_at,
            "iss": settings.issuer,
            "token_type": "Bearer" if token.kind == "access_token" else "refresh_token",
        }
        bound = bound_key(token)
        if bound is not None:  # RFC 9449 §6.2: the key a DPoP-bound token is bound to
            body["cnf"] = {"jkt": bound}
            if token.kind == "access_token":
                body["token_type"] = "DPoP"
        if token.kind == "access_token":
            claims = token.claims
            for name in ("sub", "aud", "jti", "nbf", "vo", "dirac_group", "dirac_properties", "wlcg.groups", "act"):
                if name in claims:
                    body[name] = claims[name]
            if "preferred_username" in claims:
                body["username"] = claims["preferred_username"]
        else:
            scope = ScopeRequest.parse(row.scope)
            group = self.server.registry().group(row.group_name)
            body.update({"sub": row.username, "username": row.username, "vo": row.vo,
                         "dirac_group": row.group_name,
                         "dirac_properties": list(scope.properties or (group.properties if group else ()))})
        return body
