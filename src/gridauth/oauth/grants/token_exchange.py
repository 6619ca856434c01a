"""Token exchange (RFC 8693), gridauth's way: a service (FTS, a portal) acts for a user with the user's token.

- The client authenticates with its secret and has the token-exchange grant in ``grant_types``;
  its ``TokenExchange`` policy may narrow or widen what follows (``exchange_rules.py``). Without
  the grant type: ``unauthorized_client``; what the policy refuses (a user of a group it does not
  name, a refresh token it does not allow) is ``invalid_request`` (RFC 8693 §2.2.2).
- ``subject_token`` is an active access token of a user issued by gridauth (``subject_token_type``
  ``urn:ietf:params:oauth:token-type:access_token``). Anything else is ``invalid_request``
  (RFC 8693 §2.2.2): another token type, a client's own token, an inactive token, a token whose
  grant is over, a DPoP-bound token (usable only with its key), or a token whose ``aud`` names
  other services and neither this issuer's default audience nor the client.
- Delegation by default: the new token's ``sub`` is the user, and ``act`` names the exchanging
  client (``{"sub": client_id}``), the subject token's own ``act`` nested inside (RFC 8693 §4.1;
  eight actors at most). An ``actor_token`` (of type access_token) may be sent: it must be an active
  token of the client itself (client credentials); the exchange is then a delegation always.
- Impersonation (no ``act``): only when the policy says ``Impersonation = yes`` and no
  ``actor_token`` is sent; a subject token that carries ``act`` is never impersonated (its actors
  would vanish from the record): ``invalid_request``.
- Never more than the subject token had: the same user, group and VO (another is
  ``invalid_scope``); the plain scopes asked (else all the subject's) within the subject's, the
  policy's ``Scopes`` and the client's ``scope`` list, compared as exact strings (a capability
  with a path is a scope like any other); the properties within the subject's. The user's
  membership of the group is checked again (``membership.py``): gone is ``invalid_request``.
- ``resource``/``audience`` choose ``aud`` among the policy's ``Audiences`` (else the client's):
  ``invalid_target`` otherwise (``audience.py``).
- ``requested_token_type`` access_token (the default): an access token of the subject's grant and
  generation (its ``jti``), so that revoking or refreshing the user's grant ends it; it expires no
  later than the subject token.
- ``requested_token_type`` refresh_token (policy ``RefreshTokens = yes``): the response has an
  access token and a refresh token of a new grant of the client, linked to the subject's grant
  (``parent_id``), living the policy's ``RefreshTokenLifetime`` (else the client's, else the
  default) and never past the subject's grant; revoking the subject's grant revokes it
  (``TokenStore._revoke``). Its refreshes keep the ``act`` and re-check the policy.
- The answer names what was issued (``issued_token_type``); every exchange is audited
  (``token_exchanged``), every refusal as any token request's.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
)

from ... import audit
from ...config.model import TOKEN_EXCHANGE_GRANT, Client
from ...db.tokens import Grant, NewGrant, new_grant_id
from ..audience import TargetedGrant
from ..carried import carrying_token
from ..dpop import BindsAccessToken, proof_of
from ..endpoints import MAX_TOKEN_LENGTH, active_access_token
from ..issuer import grant_of
from ..models import GridUser, OAuthClient
from ..params import shown
from ..scopes import ScopeRequest, canonical
from ..services import GrantServices
from .exchange_rules import ACCESS_TOKEN_TYPE, REFRESH_TOKEN_TYPE, actor_claim, policy_refusal
from .membership import current_membership
from .refresh_token import PURGE_MARGIN


@dataclass(frozen=True)
class Subject:
    """The subject token as verified: its claims, its grant (live) and the generation it belongs to."""

    claims: dict[str, Any]
    grant: Grant
    generation: int


@dataclass(frozen=True)
class Exchange:
    """What a valid exchange request will issue."""

    subject: Subject
    user: GridUser
    scope: str
    refresh: bool


class TokenExchangeGrant(TargetedGrant, BindsAccessToken, grants.BaseGrant, grants.TokenEndpointMixin):
    """RFC 8693 on authlib's grant base (authlib 1.9 has no token-exchange grant), with the rules above."""

    GRANT_TYPE = TOKEN_EXCHANGE_GRANT
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
    server: GrantServices
    exchange: Exchange | None = None

    def target_audiences(self, client: Client) -> tuple[str, ...] | None:
        """The policy's ``Audiences``, else the client's."""
        return client.exchange.audiences

    def validate_token_request(self) -> None:
        """Client, grant type and policy, then the subject (and actor) token, the scope and the membership."""
        client: OAuthClient = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError(f"the client may not use grant_type={self.GRANT_TYPE}")
        form = self.request.form
        wanted = form.get("requested_token_type") or ACCESS_TOKEN_TYPE
        if wanted not in (ACCESS_TOKEN_TYPE, REFRESH_TOKEN_TYPE):
            raise InvalidRequestError(f"requested_token_type {shown(wanted)} is not issued here (access_token or "
                                      "refresh_token)")
        now = self.server.clock.now()
        subject = self.subject(client, form, now)
        grant = subject.grant
        refusal = policy_refusal(client.client, grant.group_name, wanted == REFRESH_TOKEN_TYPE)
        if refusal:  # the subject token or the request "unacceptable based on policy" (RFC 8693 §2.2.2)
            raise InvalidRequestError(refusal)
        actor = self.actor(client, subject, form, now)
        asked_properties, plain = self.check_scope(client.client, subject)
        try:
            membership = current_membership(self.server.registry(), grant.username, grant.group_name, grant.vo,
                                            asked_properties, grant.idp)
        except InvalidGrantError as error:
            raise InvalidRequestError(f"subject token: {error.description}") from None
        narrowed = membership.properties if set(membership.properties) != set(self.group_properties(grant)) else ()
        self.request.client = client
        self.request.user = GridUser(membership, auth_time=grant.auth_time, grant_id=grant.id, idp=grant.idp,
                                     generation=subject.generation, actor=actor)
        self.exchange = Exchange(subject, self.request.user, canonical(plain, membership, narrowed),
                                 wanted == REFRESH_TOKEN_TYPE)

    def subject(self, client: OAuthClient, form: dict[str, str], now: int) -> Subject:
        """The subject token: an active access token of a user of this issuer, whose grant is live."""
        claims = self.verified_token(form, "subject_token", now, required=True)
        if claims is None:
            raise InvalidRequestError("missing subject_token")
        named = grant_of(claims["jti"])
        if named is None or "dirac_group" not in claims:
            raise InvalidRequestError("the subject token is not a user's")
        if "cnf" in claims:
            raise InvalidRequestError("the subject token is bound to a DPoP key: only its holder may use it")
        settings = self.server.registry().settings
        audiences = claims.get("aud")
        audiences = audiences if isinstance(audiences, list) else [audiences]
        if not {settings.audience or settings.issuer, client.get_client_id()} & set(audiences):
            raise InvalidRequestError("the subject token is meant for other services")
        grant = self.server.tokens.grant(named[0])
        if grant is None or not grant.live(now):
            raise InvalidRequestError("the subject token's grant is over")
        return Subject(claims, grant, named[1])

    def verified_token(self, form: dict[str, str], name: str, now: int, required: bool) -> dict[str, Any] | None:
        """The claims of the active access token sent as *name* (with its ``<name>_type``); None when not sent."""
        value, kind = form.get(name), form.get(f"{name}_type")
        if value is None and kind is None and not required:
            return None
        if not value or not kind:
            raise InvalidRequestError(f"{name} and {name}_type go together" if not required else
                                      f"missing {name} or {name}_type")
        if kind != ACCESS_TOKEN_TYPE:
            raise InvalidRequestError(f"{name}_type {shown(kind)} is not accepted here (access_token only)")
        claims = None
        if len(value) <= MAX_TOKEN_LENGTH:
            claims = active_access_token(self.server.keyring, self.server.tokens, now, value)
        if claims is None:
            raise InvalidRequestError(f"the {name} is not an active access token of this issuer")
        return claims

    def actor(self, client: OAuthClient, subject: Subject, form: dict[str, str], now: int) -> dict[str, Any] | None:
        """The ``act`` claim of the new token: the client, the subject's actors nested; None for an impersonation."""
        actor = self.verified_token(form, "actor_token", now, required=False)
        client_id = client.get_client_id()
        if actor is not None and (actor.get("sub") != client_id or actor.get("client_id") != client_id
                                  or "dirac_group" in actor):
            raise InvalidRequestError("the actor token must be the client's own token")
        earlier = subject.claims.get("act")
        if actor is None and client.client.exchange.impersonation:
            if earlier is not None:
                raise InvalidRequestError("the subject token was delegated: an impersonation would hide its actors")
            return None
        try:
            return actor_claim(client_id, earlier)
        except ValueError as error:
            raise InvalidRequestError(str(error)) from None

    def check_scope(self, client: Client, subject: Subject) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(properties, plain scopes) of the new token: those asked, else the subject's, never beyond them."""
        granted = ScopeRequest.parse(str(subject.claims.get("scope", "")))
        had = tuple(p for p in subject.claims.get("dirac_properties", ()) if isinstance(p, str))
        allowed = [s for s in granted.plain if (not client.exchange.scopes or s in client.exchange.scopes)
                   and (not client.scope or s in client.scope)]
        if not self.request.payload.scope:
            return granted.properties or had, tuple(allowed)
        wanted = ScopeRequest.parse(self.request.payload.scope)
        if wanted.group and wanted.group != subject.grant.group_name:
            raise InvalidScopeError("a token exchange cannot change the group")
        if wanted.vo and wanted.vo != subject.grant.vo:
            raise InvalidScopeError("a token exchange cannot change the VO")
        extra = [s for s in wanted.plain if s not in allowed]
        if extra:
            raise InvalidScopeError(f"the exchanged token may not carry {shown(', '.join(extra), quote=False)}")
        if not set(wanted.properties) <= set(had):
            raise InvalidScopeError("a token exchange may only narrow the subject token's properties")
        return wanted.properties or granted.properties or had, wanted.plain

    def group_properties(self, grant: Grant) -> tuple[str, ...]:
        """The properties of the grant's group in the registry now."""
        return self.server.registry().properties_of_group(grant.group_name)

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        """Issue the access token (of the subject's grant) or the access and refresh tokens of a new linked grant."""
        exchange = self.exchange
        if exchange is None:
            raise InvalidRequestError("no valid token-exchange request")
        client: OAuthClient = self.request.client
        now = self.server.clock.now()  # the issuer's clock: the new token's exp is this plus its lifetime
        lifetime = self.server.issuer.lifetime(client, self.GRANT_TYPE)
        if exchange.refresh:
            token = self.issue_refresh(client, exchange, now, lifetime)
        else:
            left = remaining(int(exchange.subject.claims["exp"]), now, "the subject token expired")
            token = self.generate_token(user=exchange.user, scope=exchange.scope, expires_in=min(lifetime, left),
                                        include_refresh_token=False)
        token["issued_token_type"] = REFRESH_TOKEN_TYPE if exchange.refresh else ACCESS_TOKEN_TYPE
        member = exchange.user.membership
        audit.record("token_exchanged", user=member.username, group=member.group, vo=member.vo,
                     client=client.get_client_id(), grant_type=self.GRANT_TYPE,
                     kind="delegation" if exchange.user.actor else "impersonation",
                     reason=f"a token of client {shown(str(exchange.subject.claims.get('client_id')))} exchanged "
                            f"for {'a refresh' if exchange.refresh else 'an access'} token")
        return 200, token, self.TOKEN_RESPONSE_HEADER

    def issue_refresh(self, client: OAuthClient, exchange: Exchange, now: int, lifetime: int) -> dict[str, Any]:
        """A new grant of the client, linked to the subject's, with its first access token; none if that grant ended."""
        parent = exchange.subject.grant
        policy, settings = client.client.exchange, self.server.registry().settings
        refresh_lifetime = (policy.refresh_token_lifetime or client.client.refresh_token_lifetime
                            or settings.lifetimes.refresh_token)
        expires_at = min(now + refresh_lifetime, parent.expires_at)
        expires_in = min(lifetime, remaining(expires_at, now, "the subject token's grant is over"))
        user = dataclasses.replace(exchange.user, grant_id=new_grant_id(), generation=0)
        token = self.generate_token(user=user, scope=exchange.scope, expires_in=expires_in,
                                    include_refresh_token=True)
        member = user.membership
        grant = NewGrant(client_id=client.get_client_id(), username=member.username, group=member.group,
                         vo=member.vo, scope=exchange.scope, auth_time=parent.auth_time, issued_at=now,
                         expires_at=expires_at, idp=parent.idp, id=user.grant_id,
                         tokens_until=now + expires_in + PURGE_MARGIN,
                         dpop_jkt=self.server.dpop.refresh_binding(client.client, proof_of(self.request)),
                         parent_id=parent.id, actor=json.dumps(user.actor) if user.actor else None)
        token["refresh_token"] = carrying_token(grant, token["refresh_token"])
        if self.server.tokens.create_exchanged_grant(grant, token["refresh_token"], now) is None:
            raise InvalidRequestError("the subject token's grant is over")
        token["refresh_expires_in"] = expires_at - now
        return token


def remaining(until: int, now: int, over: str) -> int:
    """Seconds from *now* to *until*: how long an exchanged token may live; ``invalid_request`` *over* when none.

    The request was checked a moment before (the subject token and its grant were live then); a
    clock tick in between must not give a token the full lifetime instead.
    """
    if until <= now:
        raise InvalidRequestError(over)
    return until - now
