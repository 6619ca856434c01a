"""DPoP (RFC 9449): proofs of possession of a key, and what a token request binds to that key.

A proof is the ``DPoP`` header of one request: a JWT signed by the client's key. It is accepted when
(RFC 9449 §4.3):

- there is exactly one, a compact JWS no longer than :data:`MAX_PROOF`;
- its header says ``typ: dpop+jwt``, an asymmetric ``alg`` of :data:`ALGORITHMS` (never ``none``
  nor an HMAC), and carries the client's **public** key as ``jwk`` (a key with private parts is
  refused), of the type the ``alg`` needs (an RSA key of at least 2048 bits);
- the signature verifies with that key;
- ``htm`` is the request's method and ``htu`` the endpoint's URL as discovery publishes it (the
  issuer and the path), compared without query and fragment, the scheme and host in lower case and
  a default port dropped;
- ``iat`` is at most :data:`MAX_AGE` seconds old and at most :data:`MAX_AHEAD` seconds ahead;
- its ``jti`` (a string of at most 256 characters) was never accepted before with that key, by
  any process or host (``db/proofs.py`` keeps it until the ``iat`` window is over);
- with an access token (at ``/userinfo``), ``ath`` is the base64url SHA-256 of that token;
- at the token endpoint, when the operator turns nonces on (``DPoPNonce = yes``), ``nonce`` is one
  the server made in the last :data:`NONCE_PERIOD` to twice that; otherwise ``use_dpop_nonce`` with
  a fresh one in the ``DPoP-Nonce`` header. Nonces are stateless: the time window and an HMAC of it under a secret
  derived from the current signing key, so every process and host makes and accepts the same ones
  without a table (after a key rotation, one ``use_dpop_nonce`` answer hands out a new nonce).

Any other failure is ``invalid_dpop_proof`` (400). At the token endpoint, per client (the CFG
option ``DPoP``): ``required`` refuses a request without a proof, ``allowed`` (the default) checks a
proof when one is sent, ``off`` ignores the header. What a token request with a proof binds:

- a public client's refresh token: the grant keeps the key's thumbprint (RFC 7638); a refresh of
  a bound grant needs a proof by the same key (else ``invalid_dpop_proof`` without a proof,
  ``invalid_grant`` with another key), checked before the grant is renewed, so nothing is issued;
  a confidential client's refresh token is bound by its client authentication already (§5);
- the access token, unless the client's ``AccessTokenType`` is ``Bearer``: ``cnf.jkt`` in the
  JWT and ``token_type: DPoP``. At ``/userinfo`` such a token needs the ``DPoP`` scheme and a
  proof by its key with ``ath`` (as ``Bearer`` it is refused); an unbound one is ``Bearer``.
  Grid storage and compute services accept Bearer tokens only, so the grid CLI keeps a DPoP-bound
  refresh token and gets Bearer access tokens (§5 allows it).

An authorization request may name the key with ``dpop_jkt`` (§10, a 43-character thumbprint):
the code is then exchanged only with a proof by that key (same answers as a bound refresh token).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc6749.errors import InvalidGrantError
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, OKPKey, RSAKey

from ..clock import Clock
from ..config.model import Client
from ..config.registry import Registry
from ..db.proofs import ProofStore
from ..hashing import b64url
from .keys import KeyRing

# alg -> (key type, curve or minimum RSA size)
ALGORITHMS: dict[str, tuple[type, str | int]] = {
    "ES256": (ECKey, "P-256"), "ES384": (ECKey, "P-384"), "ES512": (ECKey, "P-521"),
    "EdDSA": (OKPKey, "Ed25519"), "Ed25519": (OKPKey, "Ed25519"),
    "RS256": (RSAKey, 2048), "RS384": (RSAKey, 2048), "RS512": (RSAKey, 2048),
    "PS256": (RSAKey, 2048), "PS384": (RSAKey, 2048), "PS512": (RSAKey, 2048),
}
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
MAX_PROOF = 8192
MAX_JTI = 256
MAX_AGE = 120  # seconds a proof's iat may be in the past
MAX_AHEAD = 30  # seconds a proof's iat may be in the future (clock skew)
NONCE_PERIOD = 300  # a nonce is accepted for one to two periods
MODES = ("required", "allowed", "off")


class InvalidDPoPProof(OAuth2Error):
    """RFC 9449 §5: the proof is missing where it must be, malformed, or does not match the request."""

    error = "invalid_dpop_proof"
    status_code = 400


class UseDPoPNonce(OAuth2Error):
    """RFC 9449 §8: send the proof again with the nonce of the ``DPoP-Nonce`` header."""

    error = "use_dpop_nonce"
    status_code = 400

    def __init__(self, nonce: str) -> None:
        super().__init__("a DPoP nonce is required: use the one in the DPoP-Nonce header")
        self.nonce = nonce

    def get_headers(self) -> list[tuple[str, str]]:  # noqa: D102 - authlib hook
        return [*super().get_headers(), ("DPoP-Nonce", self.nonce), ("Cache-Control", "no-store")]


class InvalidToken(Exception):
    """An access token presented the wrong way at a resource endpoint (RFC 6750 / RFC 9449 §7): ``invalid_token``."""


class _ProofRegistry(jws.JWSRegistry):
    """joserfc's JWS registry with room for a public RSA key in the header (its default allows 512 bytes)."""

    max_header_length = 4096
    max_payload_length = 4096


@dataclass(frozen=True)
class Proof:
    """An accepted proof: the key's thumbprint (``jkt``) and the claims that were checked."""

    jkt: str
    jti: str
    iat: int
    htm: str
    htu: str


def access_token_hash(access_token: str) -> str:
    """``ath``: the base64url SHA-256 of an access token (RFC 9449 §4.2)."""
    return b64url(hashlib.sha256(access_token.encode("ascii", "replace")).digest())


def normalize_url(url: str) -> str | None:
    """*url* without query and fragment, scheme and host in lower case, a default port dropped; None if malformed."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in ("http", "https") or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        host = f"{host}:{port}"
    return urlunsplit((scheme, host, parts.path or "/", "", ""))


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header *name*, whatever the case of its name (Tornado writes ``Dpop``)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _refuse(description: str) -> InvalidDPoPProof:
    return InvalidDPoPProof(description)


def _public_key(jwk: Any, alg: str) -> ECKey | OKPKey | RSAKey:
    """The proof's ``jwk`` as a key: public only, and of the type *alg* needs."""
    if not isinstance(jwk, dict):
        raise _refuse("the proof's header must carry the public key as jwk")
    if PRIVATE_MEMBERS & set(jwk):
        raise _refuse("the proof's jwk holds a private key; send the public key only")
    try:
        key = JWKRegistry.import_key(jwk)
    except (JoseError, ValueError, TypeError, KeyError):
        raise _refuse("the proof's jwk is not a valid public key") from None
    kind, size = ALGORITHMS[alg]
    if not isinstance(key, ECKey | OKPKey | RSAKey) or not isinstance(key, kind):
        raise _refuse(f"the proof's jwk is not a key for {alg}")
    if isinstance(key, RSAKey):
        if key.raw_value.public_numbers().n.bit_length() < int(size):  # type: ignore[union-attr]
            raise _refuse("the proof's RSA key is shorter than 2048 bits")
    elif jwk.get("crv") != size:
        raise _refuse(f"the proof's jwk is not on the curve {alg} uses")
    return key


def _claims(token: bytes, key: ECKey | OKPKey | RSAKey, alg: str) -> dict[str, Any]:
    try:
        verified = jws.deserialize_compact(token, key, algorithms=[alg], registry=_ProofRegistry(algorithms=[alg]))
        claims = json.loads(verified.payload)
    except (JoseError, ValueError, TypeError):
        raise _refuse("the proof's signature does not verify with its jwk") from None
    if not isinstance(claims, dict):
        raise _refuse("the proof's payload is not a JSON object")
    return claims


def parse_proof(value: str, method: str, url: str, now: int, access_token: str | None = None) -> Proof:
    """The proof *value* checked against the request (*method*, the endpoint's public *url*) at *now*.

    Everything but the replay and the nonce (which need the service): see the module's rules.
    """
    if not value or len(value) > MAX_PROOF or value.count(".") != 2 or "," in value:
        raise _refuse("the DPoP header must hold exactly one proof, a signed JWT")
    token = value.strip().encode("ascii", "replace")
    try:
        head = jws.extract_compact(token, registry=_ProofRegistry()).headers()
    except (JoseError, ValueError, TypeError):
        raise _refuse("the proof is not a compact JWS") from None
    if head.get("typ") != "dpop+jwt":
        raise _refuse("the proof's typ must be dpop+jwt")
    alg = head.get("alg")
    if alg not in ALGORITHMS:
        raise _refuse(f"the proof's alg must be one of {', '.join(ALGORITHMS)} (asymmetric)")
    key = _public_key(head.get("jwk"), alg)
    claims = _claims(token, key, alg)
    jti, htm, htu, iat = claims.get("jti"), claims.get("htm"), claims.get("htu"), claims.get("iat")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI:
        raise _refuse("the proof needs a jti (a string of at most 256 characters)")
    if htm != method:
        raise _refuse(f"the proof's htm must be {method}")
    expected = normalize_url(url)
    if not isinstance(htu, str) or expected is None or normalize_url(htu) != expected:
        raise _refuse(f"the proof's htu must be {expected}")
    if not isinstance(iat, int | float) or isinstance(iat, bool) or not math.isfinite(iat):
        raise _refuse("the proof needs an iat (seconds since the epoch)")
    if iat < now - MAX_AGE or iat > now + MAX_AHEAD:
        raise _refuse("the proof's iat is too far from the server's time")
    if access_token is not None and claims.get("ath") != access_token_hash(access_token):
        raise _refuse("the proof's ath must be the hash of the access token it comes with")
    return Proof(jkt=key.thumbprint(), jti=jti, iat=int(iat), htm=htm, htu=htu)


class Nonces:
    """Stateless DPoP nonces: ``<window>.<HMAC of the window>``, valid for the current and the previous window."""

    def __init__(self, secret: Callable[[], bytes]) -> None:
        self.secret = secret

    def _mac(self, window: int) -> str:
        return b64url(hmac.new(self.secret(), str(window).encode(), hashlib.sha256).digest()[:16])

    def make(self, now: int) -> str:
        """A nonce for *now*."""
        window = now // NONCE_PERIOD
        return f"{window}.{self._mac(window)}"

    def valid(self, nonce: Any, now: int) -> bool:
        """Whether *nonce* was made by this service in the current or the previous window."""
        if not isinstance(nonce, str) or nonce.count(".") != 1:
            return False
        window, mac = nonce.split(".")
        if not window.isdigit() or int(window) not in (now // NONCE_PERIOD, now // NONCE_PERIOD - 1):
            return False
        return hmac.compare_digest(mac, self._mac(int(window)))


def _unverified_nonce(value: str) -> Any:
    """The ``nonce`` claim of a proof already verified by :func:`parse_proof`."""
    payload = value.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get("nonce")


class DPoPGuard:
    """The service's side of DPoP: checks proofs (with replay and nonce) and says what a request binds."""

    def __init__(self, proofs: ProofStore, clock: Clock, keyring: KeyRing, registry: Callable[[], Registry]) -> None:
        self.proofs = proofs
        self.clock = clock
        self.registry = registry
        self.keyring = keyring
        self._secret: tuple[str, bytes] = ("", b"")
        self.nonces = Nonces(self._nonce_secret)

    def _nonce_secret(self) -> bytes:
        """The nonces' HMAC key: derived from the current signing key, once per key and process."""
        key = self.keyring.current
        if self._secret[0] != key.kid:
            self._secret = (key.kid, key.derived_secret(b"gridauth dpop nonce"))
        return self._secret[1]

    def endpoint_url(self, request_uri: str) -> str:
        """The public URL of the endpoint *request_uri* reached: the issuer and the request's path."""
        return self.registry().settings.issuer + urlsplit(request_uri).path

    def check(self, value: str, method: str, request_uri: str, access_token: str | None = None,
              nonce: bool = True) -> Proof:
        """Accept the proof *value* of a request, once, by every rule above (``InvalidDPoPProof``, ``UseDPoPNonce``)."""
        now = self.clock.now()
        proof = parse_proof(value, method, self.endpoint_url(request_uri), now, access_token)
        if nonce and self.registry().settings.dpop_nonce and not self.nonces.valid(_unverified_nonce(value), now):
            raise UseDPoPNonce(self.nonces.make(now))
        if not self.proofs.first_use(proof.jkt, proof.jti, max(proof.iat, now) + MAX_AGE + MAX_AHEAD):
            raise _refuse("this proof was used already; make a new one for each request")
        return proof

    def token_request(self, request: Any, client: Client, enforce: bool = True) -> Proof | None:
        """The proof of a token request by *client* (None: none sent, or the client's DPoP is ``off``).

        With *enforce* False a missing proof is not refused here even when the client's DPoP is
        ``required``: the refresh grant first looks at the refresh token, because a bound one
        presented without a proof is a possible theft to record, then calls :meth:`require`.
        """
        value = header(request.headers, "DPoP")
        if client.dpop == "off":
            return None
        if value is None:
            if enforce:
                self.require(client, None)
            return None
        return self.check(value, request.method, request.uri)

    @staticmethod
    def require(client: Client, proof: Proof | None) -> None:
        """Refuse a token request without a proof from a client whose DPoP is ``required``."""
        if proof is None and client.dpop == "required":
            raise _refuse(f"the client {client.client_id} must send a DPoP proof")

    def presented(self, scheme: str, token: str, claims: dict[str, Any], proof: str | None, method: str,
                  request_uri: str) -> None:
        """Check how an active access token was presented at a resource endpoint (``/userinfo``, RFC 9449 §7).

        A token bound to a key (``cnf.jkt``) must come with the ``DPoP`` scheme and a proof by that
        key whose ``ath`` is the token's hash (else ``InvalidDPoPProof``); as ``Bearer`` it is
        refused (``InvalidToken``), or it would be a bearer token after all. An unbound token is
        presented as ``Bearer``.
        """
        cnf = claims.get("cnf")
        bound = cnf.get("jkt") if isinstance(cnf, dict) else None
        if scheme == "bearer":
            if bound is not None:
                raise InvalidToken("this access token is DPoP-bound: present it with the DPoP scheme and a proof")
            return
        if bound is None:
            raise InvalidToken("this access token is not DPoP-bound: present it as a Bearer token")
        if proof is None:
            raise _refuse("a DPoP-bound access token needs a DPoP proof")
        accepted = self.check(proof, method, request_uri, access_token=token, nonce=False)
        if not hmac.compare_digest(accepted.jkt, str(bound)):
            raise _refuse("the proof is not signed by the key the access token is bound to")

    @staticmethod
    def refresh_binding(client: Client, proof: Proof | None) -> str | None:
        """The key a new grant's refresh token is bound to: a public client's proof key (None: unbound)."""
        return proof.jkt if proof is not None and client.is_public else None

    @staticmethod
    def access_token_binding(client: Client, proof: Proof | None) -> str | None:
        """The key the access token is bound to (``cnf.jkt``), unless the client gets Bearer access tokens."""
        return proof.jkt if proof is not None and client.access_token_type == "DPoP" else None

    @staticmethod
    def check_binding(bound_to: str | None, proof: Proof | None, what: str) -> None:
        """*what* (a refresh token, a code), bound to the key *bound_to*, is used only with a proof by that key.

        For a refresh, checked before the grant is renewed, so that nothing is issued otherwise.
        """
        if bound_to is None:
            return
        if proof is None:
            raise _refuse(f"this {what} is bound to a DPoP key: send a proof signed by it")
        if not hmac.compare_digest(proof.jkt, bound_to):
            raise InvalidGrantError(f"this {what} is bound to another DPoP key")


def proof_of(request: Any) -> Proof | None:
    """The accepted proof of a token request (set when its client was authenticated), or None."""
    proof = getattr(request, "dpop", None)
    return proof if isinstance(proof, Proof) else None


class BindsAccessToken:
    """Mixin of every grant: its access token is bound to the request's proof key, unless the client gets Bearer."""

    request: Any
    server: Any
    GRANT_TYPE: str

    def generate_token(self, user: Any = None, scope: str | None = None, grant_type: str | None = None,
                       expires_in: int | None = None, include_refresh_token: bool = True) -> dict[str, Any]:
        """authlib's ``BaseGrant.generate_token``, with the access token's DPoP binding."""
        client = self.request.client
        jkt = DPoPGuard.access_token_binding(client.client, proof_of(self.request))
        return self.server.issuer.generate(grant_type or self.GRANT_TYPE, client, user, scope, expires_in,
                                           include_refresh_token, jkt=jkt)
