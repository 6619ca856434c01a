"""An external provider's signature keys: its JWKS parsed, cached, and fetched again when a token needs it.

Rules:

- Only public signature keys are kept: ``use`` absent or ``sig``, ``key_ops`` (when given) including
  ``verify``, type RSA, EC or OKP. Private members are dropped; symmetric (``oct``) keys and entries that do
  not parse are skipped.
- Only the algorithms of :data:`ALGORITHMS` verify: never ``none``, never HMAC. A key is a candidate for a
  token when its type fits the token's ``alg`` and, if the token names a ``kid``, its ``kid`` is that one.
- The keys are kept for the life of the process. They are fetched again only when a token cannot be
  verified with them: its ``kid`` is unknown, no key fits its algorithm, or no candidate verifies its
  signature (a provider that replaced a key and kept its ``kid``). The token is then verified once more
  against the new keys, never more.
- That refetch happens at most once per ``refetch_interval`` seconds per provider (60 s by default),
  counted from the last fetch, failed or not, so that tokens with made-up ``kid`` values cannot make
  gridauth hammer a provider. A token that fails inside that interval is refused without a fetch. A caller
  whose keys were replaced while it was verifying uses the new keys without fetching again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey, import_key

from ..clock import Clock

REFETCH_INTERVAL = 60.0
# Signature algorithms accepted for ID tokens and signed userinfo: key type and the hash of at_hash.
ALGORITHMS = {
    "RS256": ("RSA", "sha256"), "RS384": ("RSA", "sha384"), "RS512": ("RSA", "sha512"),
    "PS256": ("RSA", "sha256"), "PS384": ("RSA", "sha384"), "PS512": ("RSA", "sha512"),
    "ES256": ("EC", "sha256"), "ES384": ("EC", "sha384"), "ES512": ("EC", "sha512"),
    "EdDSA": ("OKP", "sha512"), "Ed25519": ("OKP", "sha512"),
}
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi")

PublicKey = RSAKey | ECKey | OKPKey


@dataclass(frozen=True)
class Key:
    """One signature key of the provider, with its ``kid`` when the JWKS gives one."""

    kid: str | None
    key: PublicKey


@dataclass(frozen=True)
class KeySet:
    """The keys of one fetch; *generation* counts the fetches, so a caller can tell whether they changed."""

    keys: tuple[Key, ...]
    generation: int


def parse_jwks(entries: Sequence[Any]) -> tuple[Key, ...]:
    """The usable public signature keys among the JWKS *entries* (the rules above); the rest is skipped."""
    keys = []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig" or entry.get("kty") == "oct":
            continue
        ops = entry.get("key_ops")
        if isinstance(ops, list) and "verify" not in ops:
            continue
        try:
            key = import_key({k: v for k, v in entry.items() if k not in PRIVATE_MEMBERS})
        except (JoseError, ValueError, TypeError, KeyError):
            continue
        if not isinstance(key, (RSAKey, ECKey, OKPKey)):
            continue
        kid = entry.get("kid")
        keys.append(Key(kid if isinstance(kid, str) else None, key))
    return tuple(keys)


def verify(token: str, keys: Sequence[Key], alg: str, kid: object) -> tuple[bytes | None, bool]:
    """The payload of compact JWS *token* if one of the candidate *keys* verifies it (else None), and
    whether there was any candidate (to tell "no key for this token" from "the signature does not verify")."""
    kty = ALGORITHMS[alg][0]
    candidates = [k.key for k in keys if k.key.key_type == kty and (kid is None or k.kid == kid)]
    for key in candidates:
        try:
            return jws.deserialize_compact(token, key, algorithms=[alg]).payload, True
        except (JoseError, ValueError):
            continue
    return None, bool(candidates)


class KeyCache:
    """The keys of one provider, fetched with *fetch* (which returns the JWKS ``keys`` list)."""

    def __init__(self, fetch: Callable[[], Awaitable[Sequence[Any]]], clock: Clock,
                 refetch_interval: float = REFETCH_INTERVAL) -> None:
        self._fetch = fetch
        self.clock = clock
        self.refetch_interval = refetch_interval
        self._current: KeySet | None = None
        self._fetched_at: float | None = None  # clock time of the last fetch, failed or not

    async def get(self, refresh: bool = False) -> KeySet:
        """The cached keys; fetched when there are none yet, or on *refresh* (without rate limit)."""
        if self._current is None or refresh:
            return await self._load()
        return self._current

    async def after_failure(self, tried: KeySet) -> KeySet | None:
        """Keys to verify once more after a token failed with *tried*, or None when there are none newer
        and the last fetch was less than ``refetch_interval`` seconds ago."""
        if self._current is not None and self._current.generation != tried.generation:
            return self._current  # replaced meanwhile by another caller's fetch
        if self._fetched_at is not None and self.clock.now() - self._fetched_at < self.refetch_interval:
            return None
        return await self._load()

    async def _load(self) -> KeySet:
        self._fetched_at = self.clock.now()  # before the fetch: a failing provider is not asked again at once
        keys = parse_jwks(await self._fetch())
        generation = self._current.generation + 1 if self._current is not None else 1
        self._current = KeySet(keys, generation)
        return self._current
