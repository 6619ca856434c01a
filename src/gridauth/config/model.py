"""The typed, immutable objects of a registry snapshot: settings, VOs, users, groups, clients, IdPs."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

from .capabilities import Capability

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
PASSWORD_GRANT = "password"  # RFC 6749 §4.3, off unless a client lists it (docs/security.md says why it is discouraged)
GRANT_TYPES = frozenset(
    {"authorization_code", "refresh_token", "client_credentials", DEVICE_CODE_GRANT, TOKEN_EXCHANGE_GRANT,
     PASSWORD_GRANT}
)
# ``ClientRegistration``: who may register clients at /register (RFC 7591): nobody, a registry user
# with an access token (the client is then theirs), or anyone (test beds only).
REGISTRATION_POLICIES = ("closed", "authenticated", "open")
# What a registered client may use: the interactive flows and refresh, never its own or a user's password.
REGISTERED_GRANT_TYPES = ("authorization_code", DEVICE_CODE_GRANT, "refresh_token")
AUTH_METHODS = frozenset({"client_secret_basic", "client_secret_post", "none"})
SIGNING_ALGORITHMS = frozenset({"RS256", "ES256", "EdDSA"})
DPOP_MODES = ("required", "allowed", "off")  # a client's ``DPoP`` option
ACCESS_TOKEN_TYPES = ("DPoP", "Bearer")  # a client's ``AccessTokenType`` option
PROVIDER_TYPES = frozenset({"Local", "OAuth2", "OIDC", "CheckIn", "IAM"})
LOOPBACK_NETWORKS = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
# The issuer when the configuration names none and no serve-time default is given (``gridauth serve``'s
# default port): ``gridauth serve --port N`` passes ``http://localhost:N`` instead.
DEFAULT_ISSUER = "http://localhost:8080"



@dataclass(frozen=True)
class Lifetimes:
    """Token and flow lifetimes in seconds, with the service defaults."""

    refresh_token: int = 43200
    access_token: int = 1200
    device_code: int = 600
    device_code_interval: int = 5
    authorization_code: int = 300
    session: int = 28800
    # How long a registry without a grant's user or group must have been served before a refused
    # refresh revokes the grant (until then it is only refused, and a rollback brings it back).
    removal_grace: int = 3600
    # How long a registered client (RFC 7591) may go unused before the purge deletes it.
    registered_client_idle: int = 2_592_000


@dataclass(frozen=True)
class AuthorizationSettings:
    """``/DIRAC/Security/Authorization``: who we are and how long things live."""

    issuer: str = DEFAULT_ISSUER
    lifetimes: Lifetimes = field(default_factory=Lifetimes)
    signing_algorithm: str = "RS256"
    wlcg_claims: bool = False
    audience: str = ""
    metrics_allow_from: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = LOOPBACK_NETWORKS
    dpop_nonce: bool = False  # ``DPoPNonce``: DPoP proofs at the token endpoint must carry a server nonce
    client_registration: str = "closed"  # ``ClientRegistration``: one of REGISTRATION_POLICIES


@dataclass(frozen=True)
class VO:
    """A virtual organisation, ``/Registry/VO/<name>``."""

    name: str
    admins: tuple[str, ...] = ()
    voms_name: str = ""
    idp: str = ""
    default_group: str = ""
    authoritative_idp: bool = False
    options: Mapping[str, str] = field(default_factory=dict)
    # ``WLCGClaims`` of the VO: yes or no overrides the global option; None follows it.
    wlcg_claims: bool | None = None


@dataclass(frozen=True)
class User:
    """A registry user, ``/Registry/Users/<name>``: DNs, identity-provider subjects, e-mail."""

    name: str
    dns: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()
    email: str = ""
    options: Mapping[str, str] = field(default_factory=dict)
    # ``Suspended = yes``: no sign-in, token or refresh, and the user's tokens are inactive, until the
    # option is lifted; nothing is revoked, so the user's grants work again afterwards.
    suspended: bool = False


@dataclass(frozen=True)
class Group:
    """A group, ``/Registry/Groups/<name>``: its VO, members, properties and IdP role mapping."""

    name: str
    vo: str
    users: frozenset[str] = frozenset()
    properties: tuple[str, ...] = ()
    voms_role: str = ""
    idp_roles: tuple[str, ...] = ()
    options: Mapping[str, str] = field(default_factory=dict)
    # ``Capabilities``: the WLCG capabilities (with path prefixes) the group's tokens may carry.
    capabilities: tuple[Capability, ...] = ()


@dataclass(frozen=True)
class ExchangePolicy:
    """A client's token-exchange policy (RFC 8693), ``Clients/<name>/TokenExchange``.

    The rules it feeds are listed in ``oauth/grants/token_exchange.py``.

    The defaults are gridauth's default: delegation only, for the audiences the client may ask
    anyway, any of the subject token's scopes, any group, no refresh token.
    """

    audiences: tuple[str, ...] | None = None  # ``Audiences``: None: the client's own ``Audiences``
    scopes: tuple[str, ...] = ()  # ``Scopes``: the plain scopes an exchanged token may carry; (): any
    groups: tuple[str, ...] = ()  # ``Groups``: whose tokens (in which groups) may be exchanged; (): any
    impersonation: bool = False  # ``Impersonation``: without an actor_token, issue tokens without ``act``
    refresh_tokens: bool = False  # ``RefreshTokens``: requested_token_type refresh_token is allowed
    refresh_token_lifetime: int | None = None  # ``RefreshTokenLifetime``: None: the client's, else the default


@dataclass(frozen=True)
class Client:
    """An OAuth client, ``/DIRAC/Security/Authorization/Clients/<name>``."""

    name: str
    client_id: str
    client_secret_hash: str = ""
    redirect_uris: tuple[str, ...] = ()
    post_logout_redirect_uris: tuple[str, ...] = ()
    grant_types: tuple[str, ...] = ()
    response_types: tuple[str, ...] = ("code",)
    scope: tuple[str, ...] = ()
    token_endpoint_auth_method: str = "none"
    refresh_token_lifetime: int | None = None
    access_token_lifetime: int | None = None
    audiences: tuple[str, ...] = ()  # what it may ask as its access tokens' aud (resource, audience)
    # ``DPoP``: required (every token request needs a proof), allowed (checked when sent), off (ignored).
    dpop: str = "allowed"
    # ``AccessTokenType``: DPoP (bound to the proof's key when a proof is sent) or Bearer (never bound).
    access_token_type: str = "DPoP"
    # ``RevokeOnTheft``: a refresh token that looks stolen revokes every grant of its user from this client.
    revoke_on_theft: bool = False
    # ``TokenExchange``: what the client may do with the token-exchange grant (when it has it).
    exchange: ExchangePolicy = field(default_factory=ExchangePolicy)

    # A client registered at /register (RFC 7591) lives in the database, not in the CFG. Its tokens are
    # for its *owner* only, in the owner's groups; *groups* set by an administrator widen that to any
    # member of those groups. No owner (``open`` registration): any user, as a CFG client.
    registered: bool = False
    owner: str | None = None
    groups: tuple[str, ...] = ()

    def may_act_for(self, username: str, group: str) -> bool:
        """Whether this client may get tokens for *username* acting in *group* (membership is checked apart)."""
        if self.groups:
            return group in self.groups
        return self.owner is None or self.owner == username

    # The capability entries of ``scope`` (``storage.read:/``), read once: they cover sub-paths.
    capabilities: tuple[Capability, ...] = ()

    @property
    def refreshes_without_dpop(self) -> bool:
        """A public client whose refresh tokens may be plain bearer secrets (named in a warning at start)."""
        return self.is_public and self.dpop != "required" and "refresh_token" in self.grant_types

    @property
    def is_public(self) -> bool:
        """A public client cannot keep a secret: it authenticates with ``none`` and must use PKCE."""
        return self.token_endpoint_auth_method == "none"


@dataclass(frozen=True)
class IdProvider:
    """An identity provider, ``/Resources/IdProviders/<name>`` (``ProviderType = Local`` or an OIDC issuer)."""

    name: str
    provider_type: str
    issuer: str = ""
    client_id: str = ""
    client_secret: str = ""
    scope: tuple[str, ...] = ()
    options: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_local(self) -> bool:
        """Local accounts: passwords kept by gridauth itself."""
        return self.provider_type == "Local"
