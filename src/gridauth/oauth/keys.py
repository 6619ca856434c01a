"""The key ring: signing keys from the database, the JWKS, signing and verifying JWTs.

Keys are generated once and stored in the database so that every process and host signs with the
same newest key and publishes the same JWKS. Each process reloads the published set every
``refresh_interval`` seconds (and at once when it meets an unknown ``kid``), so a rotation made by
``gridauth keys rotate`` reaches every process without a restart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey

from ..clock import Clock
from ..db.keys import KeyStore
from ..db.models import SigningKeyRow
from ..errors import DatabaseUnavailable
from .jws import JWK, Signer

ALGORITHMS = ("RS256", "ES256", "EdDSA")
warnings.filterwarnings("ignore", message="EdDSA is deprecated", module="joserfc")

log = logging.getLogger("gridauth.keys")
UNKNOWN_KID_RELOAD = 2
_Stored = tuple[str, str, int]  # what a SigningKey is made of in a row: private JWK, alg, active from


def generate_key(alg: str) -> JWK:
    """A new private key for *alg* (RSA 2048 for RS256, P-256 for ES256, Ed25519 for EdDSA)."""
    if alg == "RS256":
        return RSAKey.generate_key(2048, private=True)
    if alg == "ES256":
        return ECKey.generate_key("P-256", private=True)
    if alg == "EdDSA":
        return OKPKey.generate_key("Ed25519", private=True)
    raise ValueError(f"unsupported signing algorithm {alg!r}")


def _import(private_jwk: str) -> JWK:
    data = json.loads(private_jwk)
    kinds: dict[str, type[RSAKey] | type[ECKey] | type[OKPKey]] = {"RSA": RSAKey, "EC": ECKey, "OKP": OKPKey}
    kind = kinds[data["kty"]]
    return kind.import_key(data)


@dataclass(frozen=True)
class SigningKey:
    """One key of the ring: its id, algorithm and the key itself, with its :class:`~.jws.Signer` made once
    (the key ring keeps a key's ``SigningKey`` across reloads, so the signing work that does not depend on
    the claims is done once per key and process)."""

    kid: str
    alg: str
    key: JWK
    active_from: int = 0
    signer: Signer = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "signer", Signer(self.key, self.alg, self.kid))

    def derived_secret(self, purpose: bytes) -> bytes:
        """A secret for *purpose* that every process and host derives alike from this private key, none stored.

        (The DPoP nonces' HMAC key: a secret shared through the database without a table of its own.)
        """
        private = json.dumps(self.key.as_dict(private=True), sort_keys=True).encode()
        return hmac.new(private, purpose, hashlib.sha256).digest()

    def public_jwk(self) -> dict[str, Any]:
        """The public half, as published in the JWKS."""
        return {**self.key.as_dict(private=False), "kid": self.kid, "alg": self.alg, "use": "sig"}


@dataclass(frozen=True)
class _Published:
    """One consistent view of the published keys: newest first, with the JWKS built from them once."""

    keys: tuple[SigningKey, ...] = ()
    jwks: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {"keys": []})


class KeyRing:
    """The published signing keys of this service, refreshed from the database.

    Parsing a private key costs tens of milliseconds (RSA), so keys are parsed once per process and
    kept by ``kid``: a reload re-reads the rows and imports only a key it has not seen before. A due
    reload is made by one thread; the others keep signing and verifying with the keys they have
    instead of queueing behind it (or each reading the database again). Only the first load, when
    there is no key yet, makes callers wait. A reload that meets a database outage keeps the keys
    it has (and tries again at the next use).
    """

    def __init__(self, store: KeyStore, clock: Clock, refresh_interval: float = 10.0) -> None:
        self.store = store
        self.clock = clock
        self.refresh_interval = refresh_interval
        self._published = _Published()
        self._loaded_at: float = -1e18
        self._parsed: dict[str, tuple[_Stored, SigningKey]] = {}  # kid -> (what the row held, its key)
        self._lock = threading.Lock()  # held by the one thread reading the keys from the database

    # -- loading ---------------------------------------------------------------------------------
    def load(self) -> None:
        """Re-read the published keys from the database now (waiting for a reload in progress)."""
        with self._lock:
            self._load_locked()

    def _load_locked(self) -> None:
        rows = self.store.published(self.clock.now())
        parsed = {row.kid: (_stored(row), self._signing_key(row)) for row in rows}
        self._parsed = parsed  # keys no longer published are forgotten
        keys = tuple(parsed[row.kid][1] for row in rows)
        # One assignment: a reader sees the old keys with the old JWKS or the new ones with the new.
        self._published = _Published(keys, {"keys": [k.public_jwk() for k in keys]})
        self._loaded_at = self.clock.now()

    def _signing_key(self, row: SigningKeyRow) -> SigningKey:
        """The key of *row*, imported (and its signer made) again only when this process has not seen it before."""
        known = self._parsed.get(row.kid)
        if known is not None and known[0] == _stored(row):
            return known[1]
        return SigningKey(row.kid, row.alg, _import(row.private_jwk), row.created_at)

    def _due(self, age: float) -> bool:
        return self.clock.now() - self._loaded_at >= age

    def _current_set(self) -> _Published:
        """The published keys, reloaded by this thread when due and no other thread is at it."""
        if not self._published.keys:
            with self._lock:  # nothing to serve yet: wait for whoever loads first
                if not self._published.keys or self._due(self.refresh_interval):
                    self._load_locked()
        elif self._due(self.refresh_interval) and self._lock.acquire(blocking=False):
            try:
                if self._due(self.refresh_interval):  # not reloaded while we got the lock
                    self._load_locked()
            except DatabaseUnavailable as exc:  # keep signing and publishing the keys we have
                log.warning("signing keys not reloaded, using the %d this process has: %s",
                            len(self._published.keys), exc)
            finally:
                self._lock.release()
        return self._published

    def published_jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The JWKS this process has in memory, without reading the database (empty before the first load)."""
        return self._published.jwks

    def _fresh(self) -> tuple[SigningKey, ...]:
        return self._current_set().keys

    def ensure(self, alg: str, retire_after: int) -> SigningKey:
        """Make sure the newest key uses *alg*, adding one when needed; return the signing key.

        When a key of another algorithm was current, it stays published *retire_after* seconds.
        """
        keys = self._fresh()
        if not keys or keys[0].alg != alg:
            self.add(alg, retire_after=retire_after if keys else None)
            keys = self._fresh()
        return keys[0]

    def add(self, alg: str, retire_after: int | None, activate_in: int = 0) -> SigningKey:
        """Create and store a new newest key, published at once and signing *activate_in* seconds later
        (so that verifiers holding a cached JWKS meet it before its first token); older keys stay
        published *retire_after* seconds after it starts signing."""
        key = generate_key(alg)
        kid = key.thumbprint()[:16]
        active_from = self.clock.now() + activate_in
        self.store.add(SigningKeyRow(kid=kid, alg=alg, private_jwk=json.dumps(key.as_dict(private=True)),
                                     created_at=active_from, publish_until=None, seq=0),
                       None if retire_after is None else active_from + retire_after)
        self.load()
        return SigningKey(kid, alg, key, active_from)

    # -- use -------------------------------------------------------------------------------------
    @property
    def current(self) -> SigningKey:
        """The key that signs new tokens: the newest one already active."""
        keys = self._fresh()
        if not keys:
            raise RuntimeError("no signing key: the key ring was not initialised")
        now = self.clock.now()
        return next((k for k in keys if k.active_from <= now), keys[-1])

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The JSON Web Key Set to publish (built once per key set: read it, never change it)."""
        return self._current_set().jwks

    def sign(self, claims: dict[str, Any], typ: str = "at+jwt") -> str:
        """Sign *claims* as a JWT with the current key."""
        return self.current.signer.sign(claims, typ)

    def verify(self, token: str, typ: str | None = None) -> dict[str, Any] | None:
        """The claims of *token* when its signature verifies with one of our keys (and its ``typ`` is *typ*,
        when given: an access token is no ID token), else None. Expiry is not checked."""
        try:
            header = json.loads(_b64decode(token.split(".")[0]))
            kid = header.get("kid")
        except (ValueError, IndexError, AttributeError):
            return None
        if typ is not None and header.get("typ") != typ:
            return None
        key = self._find(kid)
        if key is None and self._due(UNKNOWN_KID_RELOAD):
            key = self._find_after_reload(kid)
        if key is None:
            return None
        try:
            return dict(jwt.decode(token, key.key, algorithms=[key.alg]).claims)
        except (JoseError, ValueError):
            return None

    def _find(self, kid: str | None) -> SigningKey | None:
        return next((k for k in self._fresh() if k.kid == kid), None)

    def _find_after_reload(self, kid: str | None) -> SigningKey | None:
        """A key another process may just have added: reload (at most once per
        ``UNKNOWN_KID_RELOAD`` seconds, whatever is sent; one thread reads, the others wait for it)."""
        with self._lock:
            if self._due(UNKNOWN_KID_RELOAD):
                self._load_locked()
        return next((k for k in self._published.keys if k.kid == kid), None)


def _stored(row: SigningKeyRow) -> _Stored:
    return row.private_jwk, row.alg, row.created_at


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
