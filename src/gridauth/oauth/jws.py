"""Signing our own JWTs (compact JWS), with the work that does not depend on the claims done once per key.

Why it exists: every token issued is signed, and a cProfile of a refresh showed joserfc's
``jwt.encode`` costing about 4 × the ``cryptography`` sign call it makes for ES256 (the profiler
inflates Python calls; measured without it, ``jwt.encode`` takes about 38 µs where the ES256 sign
call alone takes 20 µs). What it adds is the header registry checks, the key-operation checks, the
key lookup, the claims conversion, three base64 encodings and the DER → raw signature conversion,
all in Python and all again for every token. Most of it depends only on the key: a :class:`Signer`
does it once, when the key ring loads the key (the private key object, the base64url header of each
``typ`` in :data:`TYPS`), and per token encodes the claims and makes one ``cryptography`` call:
about 27 µs for ES256 (``benchmarks/bench_signing.py`` shows both, measured in the same run).

A token is made as joserfc makes it: the header ``{"typ", "alg", "kid"}`` in that order (joserfc
puts its default ``typ`` first and lets ours replace its value), the claims as compact JSON in
UTF-8, and an ES256 signature as r || s of 32 bytes each (RFC 7518 §3.4), so RS256 and EdDSA tokens
are the very bytes joserfc makes. joserfc also turns ``datetime`` values of ``exp``, ``iat`` and
``nbf`` into seconds (in the caller's dict): our callers give whole seconds, and a ``datetime`` is
refused here. Only the algorithms the key ring generates (``keys.generate_key``) are signed here;
another algorithm or key, or a key whose ``use``, ``alg`` or ``key_ops`` does not allow it
(joserfc's own checks, run once per key), is signed by joserfc as before. Verification stays with
joserfc (``KeyRing.verify``): it reads tokens that come from outside, where joserfc's header and
algorithm checks are wanted (introspection, the resource endpoints such as ``/userinfo``, logout).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey
from joserfc.jws import JWSRegistry

from ..hashing import b64url

JWK = RSAKey | ECKey | OKPKey
# The typ of an access token (RFC 9068) and of an ID token: their headers are made when a key is loaded.
TYPS = ("at+jwt", "JWT")
ES256_HALF = 32  # bytes of r and of s in an ES256 signature (P-256)

RawSign = Callable[[bytes], bytes]  # the signature of a JWS signing input
# Made once: json.dumps with options makes an encoder per call (a token's claims, compact, as UTF-8).
_encode_claims = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def header_segment(alg: str, kid: str, typ: str) -> str:
    """The base64url protected header joserfc writes for our tokens, members in its order (typ, alg, kid)."""
    return b64url(json.dumps({"typ": typ, "alg": alg, "kid": kid}, separators=(",", ":")).encode("ascii"))


def _es256(private: ec.EllipticCurvePrivateKey) -> RawSign:
    ecdsa = ec.ECDSA(hashes.SHA256())  # parameters only (no hash state): shared by every call and thread

    def sign(data: bytes) -> bytes:
        r, s = decode_dss_signature(private.sign(data, ecdsa))
        return r.to_bytes(ES256_HALF, "big") + s.to_bytes(ES256_HALF, "big")
    return sign


def raw_signer(key: JWK, alg: str) -> RawSign | None:
    """The ``cryptography`` call that signs for *alg* with *key*, or None when joserfc must sign
    (another algorithm, a key of another type or curve, or a key not meant for signing)."""
    model = JWSRegistry.algorithms.get(alg)
    if model is None:
        return None
    try:  # joserfc's own checks (the key's use, alg, type, curve and key_ops), made once
        model.check_key(key)
        private = key.get_op_key("sign")
    except (JoseError, ValueError):
        return None
    if alg == "RS256" and isinstance(private, rsa.RSAPrivateKey):
        rsa_key, pkcs1, sha256 = private, padding.PKCS1v15(), hashes.SHA256()
        return lambda data: rsa_key.sign(data, pkcs1, sha256)
    if alg == "ES256" and isinstance(private, ec.EllipticCurvePrivateKey) and isinstance(private.curve, ec.SECP256R1):
        return _es256(private)
    if alg == "EdDSA" and isinstance(private, ed25519.Ed25519PrivateKey):
        return private.sign
    return None


class Signer:
    """Signs JWTs with one key of the ring: made once when the key is loaded, then used for every token."""

    __slots__ = ("alg", "kid", "_key", "_raw", "_headers")

    def __init__(self, key: JWK, alg: str, kid: str) -> None:
        self.alg = alg
        self.kid = kid
        self._key = key
        self._raw = raw_signer(key, alg)
        self._headers = {typ: header_segment(alg, kid, typ) for typ in TYPS}

    @property
    def direct(self) -> bool:
        """Whether tokens are signed here (True) or by joserfc (an algorithm or key this module leaves to it)."""
        return self._raw is not None

    def sign(self, claims: dict[str, Any], typ: str) -> str:
        """The compact JWS of *claims* with header ``{typ, alg, kid}``."""
        if self._raw is None:
            return jwt.encode({"alg": self.alg, "kid": self.kid, "typ": typ}, claims, self._key,
                              algorithms=[self.alg])
        header = self._headers.get(typ) or header_segment(self.alg, self.kid, typ)
        signing_input = f"{header}.{b64url(_encode_claims(claims).encode())}"
        return f"{signing_input}.{b64url(self._raw(signing_input.encode('ascii')))}"
