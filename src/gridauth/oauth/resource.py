"""Who is calling a resource endpoint of the issuer (``/userinfo``, the admin API): a user's active access token.

The rules, shared by every such endpoint:

1. The token comes as ``Authorization: Bearer <token>`` or, DPoP-bound, as ``Authorization: DPoP
   <token>`` with a ``DPoP`` proof header (RFC 9449 §7; the proof rules are ``dpop.py``'s). No
   ``Authorization`` header, another scheme, or a header over 8 KiB is a request without
   credentials: the RFC 6750 §3.1 challenge, no error code.
2. The token must be active (``endpoints.active_access_token``: signature, expiry, deny list, grant
   generation) and issued to a user (it names a ``dirac_group``) who is not suspended: a client's
   own token has no person behind it, and nothing of a suspended user's is honoured. Otherwise
   ``invalid_token``.
3. A bound token needs the DPoP scheme and a proof by its key; an unbound one the Bearer scheme.
"""

from __future__ import annotations

from typing import Any

from ..config.registry import Registry
from ..db.tokens import TokenStore
from .dpop import ALGORITHMS, DPoPGuard, InvalidDPoPProof, InvalidToken
from .endpoints import active_access_token
from .grants.membership import suspended
from .keys import KeyRing

SCHEMES = ("bearer", "dpop")
MAX_AUTHORIZATION = 8192
CHALLENGE = f'Bearer realm="gridauth", DPoP algs="{" ".join(ALGORITHMS)}"'


class Unauthorized(Exception):
    """The 401 answer: with *error* None, the bare challenge of a request without credentials (rule 1)."""

    def __init__(self, scheme: str, error: str | None, description: str) -> None:
        super().__init__(description)
        self.scheme = scheme
        self.error = error
        self.description = description

    @property
    def challenge(self) -> str:
        """The ``WWW-Authenticate`` header."""
        if self.error is None:
            return CHALLENGE
        return f'{self.scheme} error="{self.error}", error_description="{self.description}"'


def presented(authorization: str) -> tuple[str, str]:
    """(scheme in lower case, token) of an ``Authorization`` header; :class:`Unauthorized` without credentials."""
    scheme, _, token = authorization.partition(" ")
    scheme = scheme.lower()
    if scheme not in SCHEMES or len(authorization) > MAX_AUTHORIZATION:
        raise Unauthorized("Bearer", None, "a bearer token is required")
    return scheme, token.strip()


def user_token(keyring: KeyRing, tokens: TokenStore, dpop: DPoPGuard, registry: Registry, now: int,
               authorization: str, proofs: list[str], method: str, url: str) -> dict[str, Any]:
    """The claims of the user's access token a request presents (rules 1-3), else :class:`Unauthorized`.

    Reads the database (the grant's state): run it on a database worker.
    """
    scheme, token = presented(authorization)
    shown = "DPoP" if scheme == "dpop" else "Bearer"
    proof = ",".join(proofs) if proofs else None  # several proofs are refused as one malformed one
    claims = active_access_token(keyring, tokens, now, token)
    if claims is None or "dirac_group" not in claims or suspended(registry, claims.get("sub")):
        raise Unauthorized(shown, "invalid_token", "the access token is invalid, expired or revoked")
    try:
        dpop.presented(scheme, token, claims, proof, method, url)
    except InvalidDPoPProof as error:
        raise Unauthorized("DPoP", error.error, error.description) from None
    except InvalidToken as error:
        raise Unauthorized(shown, "invalid_token", str(error)) from None
    return claims
