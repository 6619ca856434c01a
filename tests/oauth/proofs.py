"""DPoP proofs for the tests, made with a real JOSE library (joserfc), never hand-built strings."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import warnings
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey, RSAKey

warnings.filterwarnings("ignore", message="EdDSA is deprecated")
warnings.filterwarnings("ignore", message='JWS algorithm "none" is deprecated')

TOKEN_URL = "http://localhost:8080/token"  # the example's issuer (tests/harness.py) and /token
USERINFO_URL = "http://localhost:8080/userinfo"


def new_key(alg: str) -> RSAKey | ECKey | OKPKey:
    """A private key for *alg*."""
    if alg.startswith(("RS", "PS")):
        return RSAKey.generate_key(2048, private=True)
    if alg.startswith("ES"):
        return ECKey.generate_key({"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}[alg], private=True)
    return OKPKey.generate_key("Ed25519", private=True)


@dataclass
class Holder:
    """A DPoP key holder: signs proofs with its key (``ES256`` by default)."""

    alg: str = "ES256"
    key: Any = None
    clock: Any = None  # the service's clock (tests move it); None: the real time

    def __post_init__(self) -> None:
        if self.key is None:
            self.key = new_key(self.alg)

    def now(self) -> int:
        """The time a proof made now says."""
        return self.clock.now() if self.clock is not None else int(time.time())

    @property
    def jkt(self) -> str:
        """The key's RFC 7638 thumbprint."""
        return self.key.thumbprint()

    def proof(self, url: str = TOKEN_URL, method: str = "POST", iat: int | None = None,
              access_token: str | None = None, header: dict[str, Any] | None = None,
              claims: dict[str, Any] | None = None, drop: tuple[str, ...] = (), no_jwk: bool = False) -> str:
        """A fresh proof for *method* *url* (signed by this holder's key), with changes for the malformed cases."""
        head: dict[str, Any] = {"typ": "dpop+jwt", "alg": self.alg, "jwk": self.key.as_dict(private=False)}
        head.update(header or {})
        if no_jwk:
            del head["jwk"]
        body: dict[str, Any] = {"jti": secrets.token_urlsafe(16), "htm": method, "htu": url,
                                "iat": self.now() if iat is None else iat}
        if access_token is not None:
            body["ath"] = base64.urlsafe_b64encode(hashlib.sha256(access_token.encode()).digest()).rstrip(b"=").decode()
        body.update(claims or {})
        for name in drop:
            body.pop(name, None)
        return jwt.encode(head, body, self.key, algorithms=[head["alg"]])


def token_request_proof(service: Any) -> dict[str, str]:
    """The ``DPoP`` header for one token request to *service* by a client that must send proofs (``gridauth-cli``).

    For the tests of other rules (device flow, code exchange) that drive that client over raw HTTP: a
    fresh key each time, the token endpoint as the service's discovery names it, the service's clock
    when it has one (tests move it).
    """
    url = service.get("/.well-known/openid-configuration").body["token_endpoint"]
    return {"DPoP": Holder(clock=getattr(service, "clock", None)).proof(url)}
