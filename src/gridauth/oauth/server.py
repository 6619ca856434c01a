"""The authorization server: authlib's ``AuthorizationServer`` wired to the registry and the database.

One server object lives per process. The registry snapshot a request uses is bound to the worker
thread for the duration of that request (:meth:`GridAuthorizationServer.bound`), because authlib
calls ``query_client(client_id)`` without the request.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidClientError
from authlib.oauth2.rfc6749.util import extract_basic_authorization

from ..clock import Clock
from ..config.registry import Registry
from ..db.flows import FlowStore
from ..db.models import AccessTokenRow
from ..db.tokens import NewGrant, TokenStore
from .endpoints import IntrospectionEndpoint, RevocationEndpoint
from .grants.authorization_code import AuthorizationCodeGrant, S256CodeChallenge
from .grants.client_credentials import ClientCredentialsGrant
from .grants.device_code import DeviceAuthorizationEndpoint, DeviceCodeGrant
from .grants.refresh_token import RefreshTokenGrant
from .issuer import AccessTokenIssuer
from .keys import KeyRing
from .models import GridUser, OAuthClient, TokenRef
from .openid import GridOpenIDCode

Response = tuple[int, dict[str, Any], list[tuple[str, str]]]


def _jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT we have just signed ourselves (no verification needed)."""
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def authenticate_public_client(query_client: Callable[[str], Any], request: OAuth2Request) -> Any:
    """The ``none`` method: a public client names itself by ``client_id`` in the body, or, as some
    agents do (oidc-agent), by HTTP Basic with an empty password."""
    client_id = request.payload.client_id
    if not client_id:
        basic_id, basic_secret = extract_basic_authorization(request.headers)
        client_id = basic_id if basic_id and not basic_secret else None
    if not client_id or request.payload.data.get("client_secret"):
        return None
    client = query_client(client_id)
    if client is None:
        raise InvalidClientError(description="unknown client")
    return client


class GridAuthorizationServer(AuthorizationServer):
    """authlib's server with gridauth's clients, token storage and grants."""

    def __init__(self, tokens: TokenStore, flows: FlowStore, keyring: KeyRing, clock: Clock,
                 registry: Callable[[], Registry]) -> None:
        super().__init__()
        self.tokens = tokens
        self.flows = flows
        self.keyring = keyring
        self.clock = clock
        self._default_registry = registry
        self._bound = threading.local()
        self.register_token_generator("default", AccessTokenIssuer(keyring, clock, self.registry))
        self.register_client_auth_method("none", authenticate_public_client)
        self.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True), GridOpenIDCode(self)])
        self.register_grant(DeviceCodeGrant)
        self.register_grant(ClientCredentialsGrant)
        self.register_grant(RefreshTokenGrant)
        self.register_endpoint(DeviceAuthorizationEndpoint)
        self.register_endpoint(RevocationEndpoint)
        self.register_endpoint(IntrospectionEndpoint)

    # -- the registry of the current request -----------------------------------------------------
    def registry(self) -> Registry:
        """The snapshot bound to this request (or the current one outside a request)."""
        return getattr(self._bound, "registry", None) or self._default_registry()

    @contextlib.contextmanager
    def bound(self, registry: Registry) -> Iterator[None]:
        """Use *registry* for everything this thread does until the block ends."""
        self._bound.registry = registry
        try:
            yield
        finally:
            self._bound.registry = None

    # -- authlib hooks ---------------------------------------------------------------------------
    def query_client(self, client_id: str) -> OAuthClient | None:
        """The registry client with *client_id*, or None."""
        client = self.registry().client(client_id) if client_id else None
        return OAuthClient(client) if client else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Record what was issued: a grant for user tokens issued by a login, and the access token's jti.

        A login (code or device flow) creates the grant that holds the refresh token (when the client
        may refresh); a code remembers its grant so that a replay revokes it. On a refresh, recording
        the new access token also revokes the grant's older ones, in one transaction.
        """
        claims = _jwt_claims(token["access_token"])
        user: GridUser | None = request.user
        grant_id = user.grant_id if user else None
        if user is not None and grant_id is None:
            grant = self.create_grant(request.client, user, token["scope"], token.get("refresh_token"))
            grant_id = grant.id
            if request.authorization_code is not None:
                self.flows.link_code(request.authorization_code.row.code_hash, grant_id)
            if "refresh_token" in token:
                token["refresh_expires_in"] = grant.expires_at - grant.issued_at
        elif isinstance(request.refresh_token, TokenRef):
            # Like Keycloak: tell the client how long the refresh token it keeps still lives.
            token["refresh_expires_in"] = request.refresh_token.get_expires_in()
        self.tokens.record_access_token(
            AccessTokenRow(jti=claims["jti"], grant_id=grant_id, client_id=claims["client_id"],
                           username=user.get_user_id() if user else None, scope=claims.get("scope", ""),
                           issued_at=claims["iat"], expires_at=claims["exp"], revoked_at=None),
            revoke_older=isinstance(request.refresh_token, TokenRef),
        )

    def create_grant(self, client: OAuthClient, user: GridUser, scope: str, refresh_token: str | None) -> Any:
        """Store a new grant (with *refresh_token* if any), valid for the client's or the default refresh lifetime."""
        now = self.clock.now()
        own = client.client.refresh_token_lifetime
        lifetime = own if own is not None else self.registry().settings.lifetimes.refresh_token
        member = user.membership
        return self.tokens.create_grant(
            NewGrant(client_id=client.get_client_id(), username=member.username, group=member.group, vo=member.vo,
                     scope=scope, auth_time=user.auth_time or now, issued_at=now, expires_at=now + lifetime,
                     idp=user.idp),
            refresh_token)

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        """The web layer already built authlib's request."""
        return request

    def create_json_request(self, request: Any) -> Any:  # noqa: D102 - no JSON endpoints yet
        return request

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
        """Hand (status, body, headers) back to the web layer, which writes it."""
        return status, body, list(headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:  # noqa: D102 - no listeners
        return None

    def validate_requested_scope(self, scope: str | None) -> None:
        """Scopes are checked by each grant against the client and the registry."""
