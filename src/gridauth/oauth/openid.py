"""OpenID Connect: the ID token of the code flow and the claims of the userinfo endpoint."""

from __future__ import annotations

from typing import Any

from authlib.oidc.core import OpenIDCode

from ..config.registry import Registry
from ..hashing import half_hash
from .models import GridUser
from .scopes import Membership
from .services import GrantServices
from .wlcg import VERSION as WLCG_VERSION


def user_claims(registry: Registry, membership: Membership, scope: str) -> dict[str, Any]:
    """Claims about the person for *scope*: the grid claims always, e-mail with ``email``."""
    scopes = set(scope.split())
    claims: dict[str, Any] = {
        "sub": membership.username,
        "preferred_username": membership.username,
        "vo": membership.vo,
        "dirac_group": membership.group,
        "dirac_properties": list(membership.properties),
        "groups": list(registry.groups_of(membership.username, membership.vo)),
    }
    if membership.group not in claims["groups"]:  # granted by an authoritative provider's claims
        claims["groups"].append(membership.group)
    user = registry.user(membership.username)
    if user is not None and "email" in scopes and user.email:
        claims["email"] = user.email
    if user is not None and "profile" in scopes:
        claims["name"] = user.options.get("FullName", membership.username)
    return claims


# The hash of an ID token's ``at_hash`` for each signing algorithm of ours (OpenID Connect Core §3.1.3.6;
# for EdDSA, which names no hash, SHA-512 with an Ed25519 key: OpenID Connect Token Hash Algorithms 1.0).
TOKEN_HASHES = {"RS256": "sha256", "ES256": "sha256", "EdDSA": "sha512"}


class GridOpenIDCode(OpenIDCode):
    """Adds the ID token to code-flow responses that asked for ``openid``, signed by our key ring."""

    def __init__(self, server: GrantServices) -> None:
        super().__init__(require_nonce=False)
        self.server = server

    def exists_nonce(self, nonce: str, request: Any) -> bool:  # noqa: D102 - a nonce may serve once per client
        return self.server.flows.nonce_used(request.payload.client_id, nonce)

    def generate_user_info(self, user: GridUser, scope: str) -> dict[str, Any]:  # noqa: D102 - authlib hook
        return user_claims(self.server.registry(), user.membership, scope)

    def encode_id_token(self, token: dict[str, Any], request: Any) -> str:
        """iss, sub, aud, exp, iat, auth_time, nonce, at_hash, and the user claims; with an access token that
        follows the WLCG profile, its ``wlcg.ver`` and ``wlcg.groups`` too (the profile wants the groups asked
        in both token types)."""
        registry = self.server.registry()
        now = self.server.clock.now()
        code = request.authorization_code.row if request.authorization_code else None
        user: GridUser = request.user
        key = self.server.keyring.current  # the at_hash's hash follows the algorithm of the key that signs
        claims = {
            **self.generate_user_info(user, token["scope"]),
            "iss": registry.settings.issuer,
            "aud": request.client.get_client_id(),
            "iat": now,
            "exp": now + (request.client.client.access_token_lifetime or registry.settings.lifetimes.access_token),
            "auth_time": user.auth_time,
            "at_hash": half_hash(token["access_token"].encode("ascii"), TOKEN_HASHES[key.alg]),
        }
        if code is not None and code.nonce:
            claims["nonce"] = code.nonce
        granted = getattr(request, "granted", None)
        if granted is not None and granted.profile:
            claims["wlcg.ver"] = WLCG_VERSION
            if granted.wlcg_groups:
                claims["wlcg.groups"] = list(granted.wlcg_groups)
        return key.signer.sign(claims, "JWT")
