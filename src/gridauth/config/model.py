"""The typed, immutable objects of a registry snapshot: settings, VOs, users, groups, clients, IdPs."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

from .capabilities import Capability

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
GRANT_TYPES = frozenset(
    {"authorization_code", "refresh_token", "client_credentials", DEVICE_CODE_GRANT, TOKEN_EXCHANGE_GRANT}
)
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
