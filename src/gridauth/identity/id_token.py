"""The claim checks of an external provider's ID token (OpenID Connect Core 1.0, 3.1.3.7), once its signature
has verified.

Rules:

- ``iss`` is exactly the provider's issuer (from its discovery document).
- ``aud`` is our ``client_id``, or a list of strings that contains it; ``azp``, when present, is our
  ``client_id``.
- ``exp`` and ``iat`` are numbers (not booleans) and present; ``nbf`` is a number when present. The token has
  not expired and is not from the future, with :data:`LEEWAY` seconds for clock differences.
- ``nonce`` is the one of this login (compared in constant time).
- ``sub`` is a non-empty string of at most 255 characters.
- ``at_hash``, when both it and the access token are there, is the left half of the access token's hash
  with the hash of the signature algorithm.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from ..hashing import half_hash
from .http import IdentityError
from .jwks import ALGORITHMS

LEEWAY = 60


def audience_ok(aud: object, client_id: str) -> bool:
    """Whether *aud* (a string or a list of strings) names *client_id*."""
    if isinstance(aud, str):
        return aud == client_id
    return isinstance(aud, list) and client_id in aud and all(isinstance(a, str) for a in aud)


def check_id_claims(claims: Mapping[str, Any], *, provider: str, issuer: str, client_id: str, nonce: str,
                    now: int) -> None:
    """Raise :class:`IdentityError` (naming *provider*) unless *claims* pass every rule above but ``at_hash``."""
    def bad(reason: str) -> IdentityError:
        return IdentityError(f"the ID token of {provider} {reason}")

    def number(name: str) -> float | None:
        value = claims.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad(f"has a malformed {name}")
        return value

    if claims.get("iss") != issuer:
        raise bad("was issued by someone else (iss mismatch)")
    if not audience_ok(claims.get("aud"), client_id):
        raise bad("is meant for another client (aud mismatch)")
    if "azp" in claims and claims["azp"] != client_id:
        raise bad("was requested by another client (azp mismatch)")
    exp, iat, nbf = number("exp"), number("iat"), number("nbf")
    if exp is None or iat is None:
        raise bad("lacks exp or iat")
    if exp <= now - LEEWAY:
        raise bad("has expired")
    if iat > now + LEEWAY or (nbf is not None and nbf > now + LEEWAY):
        raise bad("is not valid yet (check the clocks)")
    given = claims.get("nonce")
    if not isinstance(given, str) or not hmac.compare_digest(given.encode(), nonce.encode()):
        raise bad("does not answer this login (nonce mismatch)")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 255:
        raise bad("has no usable subject")


def check_at_hash(claims: Mapping[str, Any], alg: str, access_token: str | None, provider: str) -> None:
    """Raise :class:`IdentityError` when the ID token's ``at_hash`` does not match *access_token*."""
    if "at_hash" not in claims or not access_token:
        return
    if not hmac.compare_digest(str(claims["at_hash"]),
                               half_hash(access_token.encode("ascii", "replace"), ALGORITHMS[alg][1])):
        raise IdentityError(f"the ID token of {provider} does not match its access token (at_hash)")
