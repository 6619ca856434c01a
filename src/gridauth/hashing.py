"""Salted hashes for secrets that must never be stored in clear (client secrets, passwords, tokens)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCHEME = "pbkdf2_sha256"
# Client secrets are 256-bit random strings we generate: a salted hash with few iterations
# cannot be brute-forced, and keeps client authentication cheap on the token endpoint.
CLIENT_SECRET_ITERATIONS = 1000
# Passwords are chosen by people: slow them down (OWASP 2023 recommendation for PBKDF2-SHA256).
PASSWORD_ITERATIONS = 600_000


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_secret(secret: str, iterations: int = CLIENT_SECRET_ITERATIONS) -> str:
    """Return ``pbkdf2_sha256$<iterations>$<salt>$<hash>`` for *secret* with a fresh random salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", secret.encode("utf-8"), salt, iterations)
    return f"{SCHEME}${iterations}${_b64(salt)}${_b64(digest)}"


def is_hashed(value: str) -> bool:
    """Tell whether *value* has the shape of a hash made by :func:`hash_secret`."""
    parts = value.split("$")
    return len(parts) == 4 and parts[0] == SCHEME and parts[1].isdigit()


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
