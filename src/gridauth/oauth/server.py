"""The authorization server: authlib's ``AuthorizationServer`` wired to the registry and the database.

One server object lives per process. The registry snapshot a request uses is bound to the worker
thread for the duration of that request (:meth:`GridAuthorizationServer.bound`), because authlib
calls ``query_client(client_id)`` without the request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import AuthorizationServer, OAuth2Error
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidGrantError, UnsupportedGrantTypeError

from .. import audit
from ..clock import Clock
from ..config.registry import Registry
from ..db.flows import FlowStore
from ..db.proofs import ProofStore
from ..db.registered import RegisteredClientStore
from ..db.tokens import Grant, NewGrant, Renewal, TokenStore
from .carried import carrying_token
from .client_auth import authenticate_secret_basic, authenticate_secret_post, basic_credentials, uniform
from .dpop import DPoPGuard, proof_of
from .endpoints import IntrospectionEndpoint, RevocationEndpoint
from .grants.authorization_code import REPLAYED_CODE, AuthorizationCodeGrant, S256CodeChallenge
from .grants.client_credentials import ClientCredentialsGrant
from .grants.device_code import USED_DEVICE_CODE, DeviceAuthorizationEndpoint, DeviceCodeGrant, DeviceCredential
from .grants.password import PasswordGrant, SignIn
from .grants.refresh_token import PURGE_MARGIN, RefreshTokenGrant
from .grants.token_exchange import TokenExchangeGrant
from .issuer import AccessTokenIssuer
from .keys import KeyRing
from .models import GridUser, OAuthClient, TokenRef
from .openid import GridOpenIDCode
from .registration import ClientConfigurationEndpoint, ClientRegistrationEndpoint, RegisteredClients

Response = tuple[int, dict[str, Any], list[tuple[str, str]]]


@dataclass(frozen=True)
class Pending:
    """A refresh stopped before its renewal (:meth:`GridAuthorizationServer.begin_token_response`)."""

    grant: RefreshTokenGrant
    renewal: Renewal


def authenticate_public_client(query_client: Callable[[str], Any], request: OAuth2Request) -> Any:
    """The ``none`` method: a public client names itself by ``client_id`` in the body, or, as some
    agents do (oidc-agent), by HTTP Basic with an empty password."""
    client_id = request.payload.client_id
    if not client_id:
        basic_id, basic_secret = basic_credentials(request)
        client_id = basic_id if basic_id and not basic_secret else None
    if not client_id or request.payload.data.get("client_secret"):
        return None
    return query_client(client_id)  # None for an unknown client: answered as any failure (client_auth.py)


class _Binding:
    """The block of :meth:`GridAuthorizationServer.bound`: a class, not a generator, because it wraps every protocol
    request and a generator's context manager costs a microsecond more to enter and leave."""

    __slots__ = ("local", "registry")

    def __init__(self, local: threading.local, registry: Registry) -> None:
        self.local = local
        self.registry = registry

    def __enter__(self) -> None:
        self.local.registry = self.registry

    def __exit__(self, *raised: object) -> None:
        self.local.registry = None


class GridAuthorizationServer(AuthorizationServer):
    """authlib's server with gridauth's clients, token storage and grants."""

    def __init__(self, tokens: TokenStore, flows: FlowStore, proofs: ProofStore, keyring: KeyRing, clock: Clock,
                 registry: Callable[[], Registry], registered: RegisteredClientStore) -> None:
        super().__init__()
        self.tokens = tokens
        self.flows = flows
        self.registered = RegisteredClients(registered, clock)
        self.keyring = keyring
        self.clock = clock
        self._default_registry = registry
        self._bound = threading.local()
        self.issuer = AccessTokenIssuer(keyring, clock, self.registry)
        self.dpop = DPoPGuard(proofs, clock, keyring, self.registry)
        self.register_token_generator("default", self.issuer)
        self.register_client_auth_method("none", authenticate_public_client)
        self.register_client_auth_method("client_secret_basic", authenticate_secret_basic)
        self.register_client_auth_method("client_secret_post", authenticate_secret_post)
        self.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True), GridOpenIDCode(self)])
        self.register_grant(DeviceCodeGrant)
        self.register_grant(ClientCredentialsGrant)
        self.register_grant(RefreshTokenGrant)
        self.register_grant(TokenExchangeGrant)
        self.register_grant(PasswordGrant)
        self.register_endpoint(DeviceAuthorizationEndpoint)
        self.register_endpoint(RevocationEndpoint)
        self.register_endpoint(IntrospectionEndpoint)
        self.register_endpoint(ClientRegistrationEndpoint)
        self.register_endpoint(ClientConfigurationEndpoint)

    # -- the registry of the current request -----------------------------------------------------
    def registry(self) -> Registry:
        """The snapshot bound to this request (or the current one outside a request)."""
        return getattr(self._bound, "registry", None) or self._default_registry()

    def bound(self, registry: Registry) -> _Binding:
        """Use *registry* for everything this thread does until the block ends."""
        return _Binding(self._bound, registry)

    # -- authlib hooks ---------------------------------------------------------------------------
    def authenticate_client(self, request: OAuth2Request, methods: list[str], endpoint: str = "token") -> Any:
        """authlib's client authentication, every failure answered alike (see ``client_auth.py``)."""
        try:
            return super().authenticate_client(request, methods, endpoint)
        except InvalidClientError as error:
            raise uniform(error) from None

    def query_client(self, client_id: str) -> OAuthClient | None:
        """The CFG client with *client_id* (no query), else the registered one (``registration.py``), or None."""
        if not client_id:
            return None
        registry = self.registry()
        client = registry.client(client_id) or self.registered.client(client_id, registry)
        return OAuthClient(client) if client else None

    # -- the password grant, in two halves around the password check (``grants/password.py``) ---------------
    def password_grant(self, request: OAuth2Request) -> PasswordGrant:
        """The password grant of *request*, its client and parameters checked; the password is not checked yet.

        While no client lists the grant, the server does not offer it: ``unsupported_grant_type``, as before it existed.
        """
        offered = any(PasswordGrant.GRANT_TYPE in c.grant_types for c in self.registry().clients.values())
        grant = self.get_token_grant(request) if offered else None
        if not isinstance(grant, PasswordGrant):
            raise UnsupportedGrantTypeError(request.payload.grant_type)
        grant.validate_token_request()
        return grant

    def finish_password_grant(self, grant: PasswordGrant, outcome: SignIn) -> Response:
        """The token answer once the password check came out as *outcome* (a refusal as RFC 6749 JSON)."""
        return self._finished(grant, lambda: grant.signed_in(outcome))

    # -- a refresh whose renewal is awaited apart (``grants/refresh_token.py``, ``db/awaited.py``) -----------
    def begin_token_response(self, request: OAuth2Request) -> Response | Pending:
        """``create_token_response``, except for a refresh whose renewal is to be awaited on the IOLoop: its grant,
        validated, and that renewal, for :meth:`finish_token_response` once the caller has run it."""
        try:
            grant = self.get_token_grant(request)
        except UnsupportedGrantTypeError as error:
            return self.handle_error_response(request, error)
        try:
            grant.validate_token_request()
            renewal = grant.renewal_to_await() if isinstance(grant, RefreshTokenGrant) else None
            if renewal is not None:
                return Pending(grant, renewal)
            return self.handle_response(*grant.create_token_response())
        except OAuth2Error as error:
            return self.handle_error_response(request, error)

    def finish_token_response(self, pending: Pending, renewed: Grant | None) -> Response:
        """The token answer of *pending*'s refresh once its renewal gave *renewed* (None: nothing was renewed)."""
        return self._finished(pending.grant, lambda: pending.grant.renewed(renewed))

    def _finished(self, grant: PasswordGrant | RefreshTokenGrant, outcome: Callable[[], None]) -> Response:
        """The token answer of *grant*, validated and stopped half-way, once *outcome* gave it what it waited for
        (authlib's ``create_token_response`` from there on: a refusal as RFC 6749 JSON)."""
        try:
            outcome()
            return self.handle_response(*grant.create_token_response())
        except OAuth2Error as error:
            return self.handle_error_response(grant.request, error)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Record what a login issued: the grant that holds the refresh token and ties its access tokens.

        Access tokens themselves are not stored (their ``jti`` names the grant and its generation),
        so a client's token and a refresh record nothing here: the refresh grant already renewed the
        grant in its own transaction. A code's grant is created in the same transaction that links
        the code to it (a replay that got there first means no grant, and the exchange fails), and a
        device flow's in the one that consumes the flow (a parallel poll that got there first: none).
        """
        user: GridUser | None = request.user
        client_id = request.client.get_client_id() if request.client else None
        if user is None:
            audit.record("token_issued", client=client_id, grant_type=request.payload.grant_type)
            return
        member = user.membership
        refreshed = isinstance(request.refresh_token, TokenRef)
        audit.record("token_refreshed" if refreshed else "token_issued", user=member.username, group=member.group,
                     vo=member.vo, client=client_id, grant_type=request.payload.grant_type)
        if isinstance(request.refresh_token, TokenRef):
            # Like Keycloak: tell the client how long the refresh token it keeps still lives.
            token["refresh_expires_in"] = request.refresh_token.get_expires_in()
            return
        refresh_token = token.get("refresh_token")
        until = self.clock.now() + token["expires_in"]
        grant = self.new_grant(request.client, user, token["scope"], tokens_until=until,
                               dpop_jkt=self.dpop.refresh_binding(request.client.client, proof_of(request)),
                               address=getattr(request, "client_address", None))
        if refresh_token:
            refresh_token = token["refresh_token"] = carrying_token(grant, refresh_token)
        if request.authorization_code is not None:
            row = self.tokens.create_grant_from_code(request.authorization_code.row.code_hash, grant, refresh_token)
            if row is None:
                raise InvalidGrantError(REPLAYED_CODE)
        elif isinstance(request.credential, DeviceCredential):
            row = self.tokens.create_grant_from_device_flow(request.credential.row.device_code_hash,
                                                            request.credential.now, grant, refresh_token)
            if row is None:
                raise InvalidGrantError(USED_DEVICE_CODE)
        else:
            row = self.tokens.create_grant(grant, refresh_token)
        if refresh_token:
            token["refresh_expires_in"] = row.expires_at - row.issued_at

    def new_grant(self, client: OAuthClient, user: GridUser, scope: str, tokens_until: int = 0,
                  dpop_jkt: str | None = None, address: str | None = None) -> NewGrant:
        """A grant for *user* (with the id its access token already names), valid for the client's or the
        default refresh lifetime; *tokens_until*: when its first access token expires; *dpop_jkt*: the
        key its refresh token is bound to; *address*: the client's, shown to administrators as its last use."""
        now = self.clock.now()
        own = client.client.refresh_token_lifetime
        lifetime = own if own is not None else self.registry().settings.lifetimes.refresh_token
        member = user.membership
        return NewGrant(client_id=client.get_client_id(), username=member.username, group=member.group, vo=member.vo,
                        scope=scope, auth_time=user.auth_time or now, issued_at=now, expires_at=now + lifetime,
                        idp=user.idp, id=user.grant_id, tokens_until=tokens_until + PURGE_MARGIN, dpop_jkt=dpop_jkt,
                        address=address)

    def create_grant(self, client: OAuthClient, user: GridUser, scope: str, secret: str) -> str:
        """Store a new grant, valid for the client's or the default refresh lifetime; its refresh token, made of
        *secret* as a login's is (carrying the grant)."""
        grant = self.new_grant(client, user, scope)
        refresh_token = carrying_token(grant, secret)
        self.tokens.create_grant(grant, refresh_token)
        return refresh_token

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        """The web layer already built authlib's request."""
        return request

    def create_json_request(self, request: Any) -> Any:  # noqa: D102 - the web layer already built it (registration)
        return request

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
        """Hand (status, body, headers) back to the web layer, which writes it.

        A redirect is an authorization response, success or error: it names the issuer (RFC 9207 §2).
        """
        if status == 302:
            issuer = self.registry().settings.issuer
            headers = [(name, add_params_to_uri(value, [("iss", issuer)]) if name.lower() == "location" else value)
                       for name, value in headers]
        return status, body, list(headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """authlib's signals: once a token request's client is authenticated (every grant), its DPoP proof is checked.

        The accepted proof (or None) goes on the request, for the grants to bind what they issue. A
        refresh without a proof is refused by the refresh grant itself, after it has seen whether the
        refresh token was bound (a possible theft).
        """
        if name == "after_authenticate_client" and "grant" in kwargs:
            grant = kwargs["grant"]
            enforce = grant.GRANT_TYPE != "refresh_token"
            grant.request.dpop = self.dpop.token_request(grant.request, kwargs["client"].client, enforce)

    def validate_requested_scope(self, scope: str | None) -> None:
        """Scopes are checked by each grant against the client and the registry."""
