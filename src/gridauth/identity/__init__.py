"""External identities: logging people in through other OpenID providers and mapping them onto the registry."""

from .claims import (
    ExternalIdentity,
    MappedIdentity,
    Membership,
    map_identity,
    memberships,
    parse_entitlement,
    parse_wlcg_group,
    selected_groups,
)
from .oidc_rp import IdentityError, LoginState, OIDCRelyingParty

__all__ = [
    "ExternalIdentity",
    "IdentityError",
    "LoginState",
    "MappedIdentity",
    "Membership",
    "OIDCRelyingParty",
    "map_identity",
    "memberships",
    "parse_entitlement",
    "parse_wlcg_group",
    "selected_groups",
]
