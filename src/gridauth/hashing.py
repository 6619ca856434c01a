"""Salted hashes for secrets that must never be stored in clear (client secrets, passwords, tokens).

Two kinds of secret, two costs. Passwords are chosen by people: a slow PBKDF2 makes guessing
them from a stolen hash expensive. Client secrets and tokens are 256-bit random strings that
gridauth generates: no guess can succeed whatever the hash costs, so a salted SHA-256 is as safe and
keeps client authentication (on every token request) at a microsecond.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCHEME = "pbkdf2_sha256"
FAST_SCHEME = "sha256"  # client secrets that gridauth generated: sha256$<salt>$<SHA-256 of salt + secret>
VERIFIED_CACHE_SIZE = 4096
# Passwords are chosen by people: slow them down (OWASP 2023 recommendation for PBKDF2-SHA256).
PASSWORD_ITERATIONS = 600_000


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_secret(secret: str, iterations: int = PASSWORD_ITERATIONS) -> str:
    """Return ``pbkdf2_sha256$<iterations>$<salt>$<hash>`` for *secret* (a password) with a fresh random salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", secret.encode("utf-8"), salt, iterations)
    return f"{SCHEME}${iterations}${_b64(salt)}${_b64(digest)}"


def is_hashed(value: str) -> bool:
    """Tell whether *value* has the shape of a hash made by :func:`hash_secret`."""
    parts = value.split("$")
    return len(parts) == 4 and parts[0] == SCHEME and parts[1].isdigit()


def _is_fast_hash(value: str) -> bool:
    parts = value.split("$")
    return len(parts) == 3 and parts[0] == FAST_SCHEME and all(parts[1:])


def is_client_secret_hash(value: str) -> bool:
    """Tell whether *value* is a client-secret hash gridauth accepts: the fast ``sha256$...`` it writes
    today, or the ``pbkdf2_sha256$...`` of earlier versions (still valid, never rewritten)."""
    return _is_fast_hash(value) or is_hashed(value)


def hash_client_secret(secret: str) -> str:
    """Return ``sha256$<salt>$<hash>`` for a generated client secret (see the module docstring for why)."""
    salt = secrets.token_bytes(16)
    return f"{FAST_SCHEME}${_b64(salt)}${_b64(hashlib.sha256(salt + secret.encode('utf-8')).digest())}"


# Client secrets whose PBKDF2 hash has been checked by this process: (stored hash, keyed digest of the
# secret). The stored hash is part of the key, so a new secret (a new hash) is checked in full again;
# the digest is keyed with a per-process random key, so the cache holds nothing a secret can be
# recovered from or checked against outside this process.
_verified: set[tuple[str, bytes]] = set()
_CACHE_KEY = secrets.token_bytes(32)


def verify_client_secret(secret: str, hashed: str) -> bool:
    """Check a client *secret* against its stored hash (either format), in constant time.

    A PBKDF2 hash is checked in full once per process and secret, then remembered: a confidential
    client authenticates on every token request, and the slow hash bought nothing for a random secret.
    """
    if _is_fast_hash(hashed):
        _, salt, digest = hashed.split("$")
        try:
            expected, computed = _unb64(digest), hashlib.sha256(_unb64(salt) + secret.encode("utf-8")).digest()
        except ValueError:
            return False
        return hmac.compare_digest(expected, computed)
    seen = (hashed, hmac.digest(_CACHE_KEY, secret.encode("utf-8"), "sha256"))
    if seen in _verified:
        return True
    if not verify_secret(secret, hashed):
        return False
    if len(_verified) >= VERIFIED_CACHE_SIZE:
        _verified.clear()  # more secrets than clients: start again rather than grow
    _verified.add(seen)
    return True


def verify_secret(secret: str, hashed: str) -> bool:
    """Check *secret* against a hash from :func:`hash_secret`, in constant time."""
    if not is_hashed(hashed):
        return False
    _, iterations, salt, digest = hashed.split("$")
    try:
        expected = _unb64(digest)
        computed = hashlib.pbkdf2_hmac("sha256", secret.encode("utf-8"), _unb64(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(expected, computed)


def new_client_secret() -> str:
    """A fresh client secret with 256 bits of randomness."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """SHA-256 hex digest used to store and look up high-entropy tokens (refresh tokens, codes)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
