"""The key ring's own JWS signer (``oauth/jws.py``) makes the tokens joserfc makes, and joserfc verifies them.

For every signing algorithm the key ring generates, over a real database (SQLite, and MariaDB when
configured): a token signed by the signer verifies with joserfc and with ``KeyRing.verify``, its
header is exactly ``{alg, kid, typ}`` and its claims come back as they went in; a token joserfc signs
with the same key is accepted alike (and, for the deterministic RS256 and EdDSA, is the same string).
A key or algorithm the signer does not handle is left to joserfc, which behaves as before.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from joserfc import jwt
from joserfc.errors import InvalidKeyTypeError, UnsupportedKeyOperationError
from joserfc.jwk import RSAKey

from gridauth.clock import Clock
from gridauth.db import schema
from gridauth.db.engine import Database
from gridauth.db.keys import KeyStore
from gridauth.oauth.jws import TYPS, Signer
from gridauth.oauth.keys import ALGORITHMS, KeyRing, SigningKey, generate_key

CLAIMS: dict[str, Any] = {
    "iss": "https://auth.example.org", "sub": "zoë", "aud": ["https://wlcg.cern.ch/jwt/v1/any", "s3"],
    "iat": 1_790_000_000, "exp": 1_790_001_200, "name": "Zoë Ångström 章", "scope": "openid group:dteam_user",
    "wlcg.groups": ["/dteam", ["/nested", {"ü": [1, 2.5, None, True]}]], "cnf": {"jkt": "x-y_z"}, "quote": "a\"b\\",
}


def _segment(token: str, index: int) -> bytes:
    part = token.split(".")[index]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@pytest.fixture(params=ALGORITHMS)
def ring(request: pytest.FixtureRequest, db_url: str) -> Iterator[KeyRing]:
    """A key ring whose current key uses the parametrised algorithm, over a fresh database."""
    db = Database(db_url)
    schema.upgrade(db)
    keyring = KeyRing(KeyStore(db), Clock(), refresh_interval=10)
    keyring.ensure(request.param, retire_after=1260)
    yield keyring
    db.close()


def test_the_algorithms_of_the_configuration_are_signed_by_the_signer(ring):
    assert ring.current.signer.direct


@pytest.mark.parametrize("typ", TYPS)
def test_a_signed_token_verifies_with_joserfc_and_the_key_ring(ring, typ):
    key = ring.current
    token = ring.sign(CLAIMS, typ)
    decoded = jwt.decode(token, key.key, algorithms=[key.alg])
    assert decoded.header == {"alg": key.alg, "kid": key.kid, "typ": typ}
    assert decoded.claims == CLAIMS
    assert ring.verify(token, typ=typ) == CLAIMS
    assert ring.verify(token, typ=next(other for other in TYPS if other != typ)) is None


def test_the_claims_are_compact_utf8_json(ring):
    payload = _segment(ring.sign(CLAIMS), 1)
    assert payload == json.dumps(CLAIMS, ensure_ascii=False, separators=(",", ":")).encode()
    assert "Zoë Ångström 章".encode() in payload  # UTF-8, not \\u escapes


def test_an_es256_signature_is_r_and_s_of_32_bytes(db_url):
    db = Database(db_url)
    schema.upgrade(db)
    ring = KeyRing(KeyStore(db), Clock())
    ring.ensure("ES256", retire_after=0)
    assert {len(_segment(ring.sign(CLAIMS), 2)) for _ in range(20)} == {64}  # never DER, never short
    db.close()


def test_tokens_of_joserfc_and_of_the_signer_are_interchangeable(ring):
    key = ring.current
    for typ in TYPS:
        ours = ring.sign(CLAIMS, typ)
        theirs = jwt.encode({"alg": key.alg, "kid": key.kid, "typ": typ}, dict(CLAIMS), key.key, algorithms=[key.alg])
        assert ours.split(".")[:2] == theirs.split(".")[:2]  # the same header (members and order) and payload
        if key.alg != "ES256":  # PKCS#1 v1.5 and Ed25519 are deterministic: the very same token
            assert ours == theirs
        for token in (ours, theirs):
            assert ring.verify(token, typ=typ) == CLAIMS
            assert jwt.decode(token, key.key, algorithms=[key.alg]).claims == CLAIMS


def test_a_typ_made_on_the_fly_has_the_same_header(ring):
    key = ring.current
    token = ring.sign({"sub": "x"}, "logout+jwt")
    assert jwt.decode(token, key.key, algorithms=[key.alg]).header == {"alg": key.alg, "kid": key.kid,
                                                                        "typ": "logout+jwt"}


def test_a_key_keeps_its_signer_across_reloads(ring):
    before = ring.current
    ring.load()
    ring.clock.advance(11)
    ring.sign({"sub": "x"})  # a due reload
    assert ring.current is before and ring.current.signer is before.signer


def test_an_algorithm_the_signer_does_not_handle_is_signed_by_joserfc():
    key = generate_key("RS256")
    signing = SigningKey("k1", "PS256", key)
    assert not signing.signer.direct
    token = signing.signer.sign({"sub": "x"}, "at+jwt")
    assert jwt.decode(token, key, algorithms=["PS256"]).header == {"alg": "PS256", "kid": "k1", "typ": "at+jwt"}


@pytest.mark.parametrize(("alg", "key", "error"), [
    ("RS256", generate_key("ES256"), InvalidKeyTypeError),  # a key of the wrong type
    ("RS256", RSAKey.import_key({**generate_key("RS256").as_dict(private=True), "key_ops": ["verify"]}),
     UnsupportedKeyOperationError),  # a key not meant to sign
])
def test_a_key_joserfc_refuses_is_refused_as_before(alg, key, error):
    signer = Signer(key, alg, "k1")
    assert not signer.direct
    with pytest.raises(error):
        signer.sign({"sub": "x"}, "at+jwt")
    with pytest.raises(error):
        jwt.encode({"alg": alg, "kid": "k1", "typ": "at+jwt"}, {"sub": "x"}, key, algorithms=[alg])
