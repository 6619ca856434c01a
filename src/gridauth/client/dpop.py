"""Proof of possession for the command line (DPoP, RFC 9449): the key a login session is bound to, and its proofs.

- Every login makes a new key pair (EC P-256, signing ES256). The private key is kept in the client
  directory (``dpop_key``, PEM, mode 0600), beside the refresh token and never in the bearer-token
  file: a server that binds the refresh token to the key refuses it from anyone without the key,
  so a copy of the session files without it is useless.
- Every request to the token and revocation endpoints carries a fresh proof in its ``DPoP`` header
  (RFC 9449 §4.2): ``typ`` ``dpop+jwt``, ``alg`` ES256, the public key as ``jwk``; claims ``jti``
  (random), ``htm``, ``htu`` (the URL without query and fragment), ``iat``, and ``nonce`` when the
  server asked for one.
- A server that does not know DPoP ignores the header, so the same client works with it.

The client stays free of the server's JOSE library: the few lines of JWS it needs are written here
on ``cryptography``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from .errors import ClientError

COORDINATE = 32  # bytes of a P-256 coordinate and of each half of an ES256 signature


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json_part(value: Mapping[str, object]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def target_uri(url: str) -> str:
    """The ``htu`` of a request to *url*: without its query and fragment (RFC 9449 §4.2)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class ProofKey:
    """An EC P-256 key pair that signs DPoP proofs."""

    def __init__(self, private: ec.EllipticCurvePrivateKey) -> None:
        self.private = private
        numbers = private.public_key().public_numbers()
        self.jwk = {"crv": "P-256", "kty": "EC", "x": b64url(numbers.x.to_bytes(COORDINATE, "big")),
                    "y": b64url(numbers.y.to_bytes(COORDINATE, "big"))}

    @classmethod
    def generate(cls) -> ProofKey:
        """A new key pair (one per login)."""
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def load(cls, path: Path) -> ProofKey | None:
        """The key stored at *path*, or None when there is none (a session from before DPoP)."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ClientError(f"{path}: cannot read the session's key ({exc.strerror})") from None
        try:
            private = serialization.load_pem_private_key(data, password=None)
        except ValueError:
            raise ClientError(f"{path}: not a private key; run 'gridauth login' again") from None
        if not isinstance(private, ec.EllipticCurvePrivateKey) or private.curve.name != "secp256r1":
            raise ClientError(f"{path}: not an EC P-256 key; run 'gridauth login' again")
        return cls(private)

    def pem(self) -> str:
        """The private key as PKCS#8 PEM (written by the session store, mode 0600)."""
        return self.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()).decode("ascii")

    def thumbprint(self) -> str:
        """The JWK SHA-256 thumbprint (RFC 7638) that a server binds tokens to (``cnf.jkt``)."""
        canonical = json.dumps({k: self.jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"))
        return b64url(hashlib.sha256(canonical.encode("ascii")).digest())

    def proof(self, method: str, url: str, nonce: str | None = None, access_token: str | None = None) -> str:
        """A fresh proof for one *method* request to *url* (with ``ath`` when it goes with *access_token*)."""
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk}
        claims: dict[str, object] = {"jti": secrets.token_urlsafe(16), "htm": method.upper(),
                                     "htu": target_uri(url), "iat": int(time.time())}
        if nonce:
            claims["nonce"] = nonce
        if access_token:
            claims["ath"] = b64url(hashlib.sha256(access_token.encode("ascii")).digest())
        signing_input = f"{_json_part(header)}.{_json_part(claims)}"
        r, s = decode_dss_signature(self.private.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{b64url(r.to_bytes(COORDINATE, 'big') + s.to_bytes(COORDINATE, 'big'))}"
