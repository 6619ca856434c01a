"""The authorization code grant (RFC 6749 §4.1) with PKCE (RFC 7636) and OpenID Connect.

- Redirect URIs match exactly (authlib's ``check_redirect_uri``).
- PKCE: S256 only (``plain`` is refused); required for public clients, accepted for confidential ones.
- Codes are single use and short lived (``AuthorizationCodeLifetime``, at most 5 minutes); a code
  used twice revokes every token issued from it (RFC 6749 §4.1.2), whatever the interleaving of the
  two exchanges: the first one creates its grant in the transaction that links the code to it, the
  second marks the code replayed and revokes the linked grant in one transaction; whichever of the
  two commits last sees the other's work (a replay seen first means no grant is created at all).
- The code carries the group chosen at login; the registry is re-read when it is exchanged.
- Request objects (``request``, ``request_uri``, OpenID Connect Core §6) are not supported and are
  refused (``request_not_supported``, ``request_uri_not_supported``), as is any ``response_mode``
  but ``query`` (``invalid_request``): a client is told, rather than answered as if it had not asked.
"""

from __future__ import annotations

import re
from typing import Any

from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import AuthorizationCodeMixin
from authlib.oidc.core.errors import RequestNotSupportedError, RequestURINotSupportedError

from ...db.models import AuthorizationCodeRow
from ..audience import TargetedGrant, allowed_targets
from ..dpop import BindsAccessToken, proof_of
from ..models import GridUser
from ..params import EARLY, check_parameters, shown
from ..scopes import GrantsScope, ScopeRequest, canonical, check_plain_allowed, decide
from ..services import GrantServices
from .membership import current_membership

REPLAYED_CODE = "the authorization code was already used; the tokens issued from it are revoked"


def refuse_unsupported(data: dict[str, str]) -> None:
    """Refuse request objects and a response mode other than ``query``."""
    if "request" in data:
        raise RequestNotSupportedError("request objects are not supported; send the parameters themselves")
    if "request_uri" in data:
        raise RequestURINotSupportedError("request_uri is not supported; send the parameters themselves")
    mode = data.get("response_mode")
    if mode is not None and mode != "query":
        raise InvalidRequestError(f"response_mode {shown(mode)} is not supported (only query)")


THUMBPRINT = re.compile(r"[A-Za-z0-9_-]{43}")


class IssuedCode(AuthorizationCodeMixin):
    """authlib's view of a stored authorization code."""

    def __init__(self, row: AuthorizationCodeRow) -> None:
        self.row = row

    def get_redirect_uri(self) -> str | None:  # noqa: D102 - authlib interface
        return self.row.redirect_uri

    def get_scope(self) -> str:  # noqa: D102 - authlib interface
        return self.row.scope

    def get_nonce(self) -> str | None:  # noqa: D102 - authlib interface
        return self.row.nonce

    def get_auth_time(self) -> int:  # noqa: D102 - authlib interface
        return self.row.auth_time


class S256CodeChallenge(CodeChallenge):
    """PKCE with S256 only; required whenever the client is public."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:  # noqa: D102 - authlib hook
        request = grant.request
        challenge = request.payload.data.get("code_challenge")
        method = request.payload.data.get("code_challenge_method")
        if challenge and method != "S256":
            raise InvalidRequestError("code_challenge_method must be S256 ('plain' is not accepted)",
                                      redirect_uri=redirect_uri)
        if not challenge and grant.request.client.is_public:
            raise InvalidRequestError("a public client must use PKCE (code_challenge with S256)",
                                      redirect_uri=redirect_uri)
        super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge(self, authorization_code: IssuedCode) -> str | None:  # noqa: D102
        return authorization_code.row.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code: IssuedCode) -> str | None:  # noqa: D102
        return authorization_code.row.code_challenge_method


class AuthorizationCodeGrant(GrantsScope, TargetedGrant, BindsAccessToken, grants.AuthorizationCodeGrant):
    """authlib's grant with gridauth's storage, scopes and replay protection."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    server: GrantServices

    def validate_authorization_request(self) -> str:
        """authlib's checks, then every parameter's grammar and stored length, what is not supported, the
        audiences asked (oauth/audience.py) and ``dpop_jkt`` (RFC 9449 §10: when sent, a key thumbprint, RFC 7638
        SHA-256); errors go back to the client."""
        redirect_uri: str = super().validate_authorization_request()
        data = self.request.payload.data
        try:
            check_parameters(data, tuple(name for name in data if name not in EARLY))
            refuse_unsupported(data)
            allowed_targets(self.request.client.client, data)
            jkt = data.get("dpop_jkt")
            if jkt is not None and not THUMBPRINT.fullmatch(jkt):
                raise InvalidRequestError("dpop_jkt must be a JWK SHA-256 thumbprint (43 base64url characters)",
                                          state=self.request.payload.state)
        except OAuth2Error as error:
            error.redirect_uri = redirect_uri
            raise
        return redirect_uri

    def validate_requested_scope(self) -> None:
        """Plain scopes must be registered for the client; the group is chosen by the person (the
        capabilities and the grid's parameter scopes are decided when the code is exchanged)."""
        request = ScopeRequest.parse(self.request.payload.scope)
        check_plain_allowed(self.request.client.client.scope, request.ordinary)

    def save_authorization_code(self, code: str, request: Any) -> None:  # noqa: D102 - authlib hook
        user: GridUser = request.user
        member = user.membership
        asked = ScopeRequest.parse(request.payload.scope)
        now = self.server.clock.now()
        data = request.payload.data
        self.server.flows.save_code(code, AuthorizationCodeRow(
            code_hash="", client_id=request.client.get_client_id(), redirect_uri=request.payload.redirect_uri,
            scope=canonical(asked.plain, member, asked.properties), username=member.username,
            group_name=member.group, vo=member.vo, properties=" ".join(member.properties),
            nonce=data.get("nonce"), code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method") if data.get("code_challenge") else None,
            auth_time=user.auth_time, expires_at=now + self.server.registry().settings.lifetimes.authorization_code,
            used_at=None, grant_id=None, idp=user.idp, dpop_jkt=data.get("dpop_jkt")))

    def query_authorization_code(self, code: str, client: Any) -> IssuedCode | None:
        """Use the code once; a second use revokes what the first one issued."""
        if not code or len(code) > 512:
            return None
        now = self.server.clock.now()
        row, first = self.server.flows.use_code(code, now)
        if row is None or row.client_id != client.get_client_id():
            return None
        if not first:
            self.server.tokens.code_replayed(row.code_hash, now)
            raise InvalidGrantError(REPLAYED_CODE)
        if row.expires_at <= now:
            raise InvalidGrantError("the authorization code expired")
        return IssuedCode(row)

    def delete_authorization_code(self, authorization_code: IssuedCode) -> None:
        """Kept (as used, linked to its grant by ``save_token``) until purged, so that a replay can be detected."""

    def authenticate_user(self, authorization_code: IssuedCode) -> GridUser:
        """The code's user and group, checked against the registry as it is now, and what the token gets of the
        code's scope (:func:`decide`); a code bound by ``dpop_jkt`` needs a proof by that key."""
        row = authorization_code.row
        self.server.dpop.check_binding(row.dpop_jkt, proof_of(self.request), "authorization code")
        asked = ScopeRequest.parse(row.scope)
        registry = self.server.registry()
        membership = current_membership(registry, row.username, row.group_name, row.vo, asked.properties, row.idp)
        self.granted = decide(registry, self.request.client.client, asked, membership)
        return GridUser(membership, auth_time=row.auth_time, idp=row.idp)
