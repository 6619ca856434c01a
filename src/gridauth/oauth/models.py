"""The objects authlib works with, adapted from the registry and the database rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin

from ..config.model import Client
from ..hashing import verify_client_secret
from .scopes import Membership

CONFIDENTIAL_METHODS = ("client_secret_basic", "client_secret_post")
LOOPBACK_IPS = ("127.0.0.1", "[::1]")


def _without_loopback_port(uri: str) -> str | None:
    """``http://127.0.0.1:4711/cb`` → ``http://127.0.0.1/cb``; None for anything that is not a loopback IP URI."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    host = parts.netloc.rsplit(":", 1)[0] if port is not None else parts.netloc
    if parts.scheme != "http" or host not in LOOPBACK_IPS or port is None:
        return None
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


class OAuthClient(ClientMixin):
    """A registry client seen through authlib's ClientMixin."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def get_client_id(self) -> str:  # noqa: D102 - authlib interface
        return self.client.client_id

    def get_default_redirect_uri(self) -> str | None:  # noqa: D102 - authlib interface
        return self.client.redirect_uris[0] if self.client.redirect_uris else None

    def get_allowed_scope(self, scope: str | None) -> str:  # noqa: D102 - checked by our grants already
        return scope or ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """Exact match (RFC 9700 §2.1), except the port of a loopback IP redirect URI (RFC 8252 §7.3)."""
        if redirect_uri in self.client.redirect_uris:
            return True
        loopback = _without_loopback_port(redirect_uri)
        return loopback is not None and loopback in self.client.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:  # noqa: D102 - see hashing
        stored = self.client.client_secret_hash
        return bool(stored) and verify_client_secret(client_secret, stored)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        """Public clients use ``none``; confidential clients may use either secret method."""
        if self.client.is_public:
            return method == "none"
        return method in CONFIDENTIAL_METHODS

    def check_response_type(self, response_type: str) -> bool:  # noqa: D102 - authlib interface
        return response_type in self.client.response_types

    def check_grant_type(self, grant_type: str) -> bool:  # noqa: D102 - authlib interface
        return grant_type in self.client.grant_types

    @property
    def is_public(self) -> bool:
        """Whether the client cannot keep a secret."""
        return self.client.is_public


@dataclass(frozen=True)
class GridUser:
    """The resource owner of a token: a registry user acting in one group."""

    membership: Membership
    auth_time: int = 0
    # The grant the tokens belong to: an existing one on a refresh, else the id the new grant will
    # get (chosen now, because the access token, signed before the grant is stored, names it).
    grant_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    idp: str | None = None  # the identity provider of the login (an authoritative one may stand for the registry)
    generation: int = 0  # the grant's generation the access token belongs to
    # The ``act`` claim (RFC 8693 §4.1) of a delegated token: who acts for the user, earlier actors nested.
    actor: dict[str, Any] | None = None

    def get_user_id(self) -> str:
        """The registry user name: the ``sub`` of the tokens (stable and unique for this issuer)."""
        return self.membership.username

    def at_generation(self, generation: int) -> GridUser:
        """This user with the tokens of the grant's *generation* (a refresh, once its renewal gave it), built field
        by field rather than by ``dataclasses.replace``, which costs twice as much on every refresh."""
        return GridUser(self.membership, self.auth_time, self.grant_id, self.idp, generation, self.actor)


@dataclass(frozen=True)
class AccessTokenView:
    """An active access token as introspection and revocation see it: what its signed claims say."""

    jti: str
    client_id: str
    scope: str
    issued_at: int
    expires_at: int
    username: str | None
    revoked_at: None = None  # an access token found at all is active

    @classmethod
    def of(cls, claims: dict[str, Any]) -> AccessTokenView:
        """The view of verified *claims*."""
        return cls(jti=claims["jti"], client_id=str(claims.get("client_id", "")), scope=str(claims.get("scope", "")),
                   issued_at=int(claims.get("iat", 0)), expires_at=int(claims["exp"]),
                   username=claims.get("preferred_username"))


class TokenRef(TokenMixin):
    """A token found for revocation or introspection: an access token (JWT) or a refresh token (grant)."""

    def __init__(self, kind: str, client_id: str, row: Any, now: int, claims: dict[str, Any] | None = None,
                 grant_revoked: bool = False) -> None:
        self.kind = kind
        self.client_id = client_id
        self.row = row
        self.now = now
        self.claims = claims or {}
        self.grant_revoked = grant_revoked

    def check_client(self, client: OAuthClient) -> bool:  # noqa: D102 - authlib interface
        return client.get_client_id() == self.client_id

    def get_scope(self) -> str:  # noqa: D102 - authlib interface
        return self.row.scope

    def get_expires_in(self) -> int:  # noqa: D102 - authlib interface
        return max(0, self.row.expires_at - self.now)

    def is_expired(self) -> bool:  # noqa: D102 - authlib interface
        return self.row.expires_at <= self.now

    def is_revoked(self) -> bool:  # noqa: D102 - authlib interface
        return self.row.revoked_at is not None or self.grant_revoked

    def get_user(self) -> str | None:  # noqa: D102 - authlib interface
        return getattr(self.row, "username", None)

    def get_client(self) -> None:  # noqa: D102 - the client id is enough for our checks
        return None
