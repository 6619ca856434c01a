"""The authorization server metadata (RFC 8414 / OpenID Connect Discovery 1.0), from the registry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..config.model import PASSWORD_GRANT
from ..config.registry import Registry
from .dpop import ALGORITHMS as DPOP_ALGORITHMS
from .registration import PATH as REGISTRATION_PATH

if TYPE_CHECKING:
    from .server import GridAuthorizationServer

PATHS = {
    "authorization_endpoint": "/authorize",
    "device_authorization_endpoint": "/device_authorization",
    "token_endpoint": "/token",
    "userinfo_endpoint": "/userinfo",
    "end_session_endpoint": "/logout",
    "revocation_endpoint": "/revoke",
    "introspection_endpoint": "/introspect",
    "jwks_uri": "/jwks",
}
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


def build_metadata(registry: Registry, server: GridAuthorizationServer) -> dict[str, Any]:
    """Every endpoint and capability, so that clients find them here."""
    settings = registry.settings
    issuer = settings.issuer
    grant_types = sorted({grant.GRANT_TYPE for grant, _ in server._token_grants})
    if not any(PASSWORD_GRANT in client.grant_types for client in registry.clients.values()):
        grant_types.remove(PASSWORD_GRANT)  # discouraged: named only while some client may use it
    registration = ({"registration_endpoint": issuer + REGISTRATION_PATH}
                    if settings.client_registration != "closed" else {})
    groups = sorted(registry.groups)
    return {
        "issuer": issuer,
        **{name: issuer + path for name, path in PATHS.items()},
        **registration,
        "grant_types_supported": grant_types,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "authorization_response_iss_parameter_supported": True,  # RFC 9207
        "scopes_supported": ["openid", "profile", "email", "offline_access", "wlcg", "wlcg.groups",
                             *[f"vo:{vo}" for vo in sorted(registry.vos)],
                             *[f"group:{g}" for g in groups], *[f"g:{g}" for g in groups]],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": AUTH_METHODS[:2],
        "code_challenge_methods_supported": ["S256"],
        "dpop_signing_alg_values_supported": list(DPOP_ALGORITHMS),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [settings.signing_algorithm],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nbf", "auth_time", "jti", "nonce", "email", "name",
                             "client_id", "scope", "preferred_username",
                             "vo", "dirac_group", "dirac_properties", "groups", "wlcg.ver", "wlcg.groups", "act"],
    }
