"""The command line proves possession (DPoP, RFC 9449): its proofs, checked with a real JOSE library; its key file."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import time
from pathlib import Path

from joserfc import jws
from joserfc.jwk import ECKey

from gridauth.client.dpop import ProofKey, target_uri

from .conftest import jwt_claims


def header_of(proof: str) -> dict:
    part = proof.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def verified(proof: str) -> dict:
    """The claims of *proof* once its signature verifies with the public key in its own header (joserfc)."""
    header = header_of(proof)
    key = ECKey.import_key(header["jwk"])
    return json.loads(jws.deserialize_compact(proof, key, algorithms=["ES256"]).payload)


def test_a_proof_is_an_es256_jws_of_the_public_key_with_the_request_bound_in():
    key = ProofKey.generate()
    before = int(time.time())
    proof = key.proof("post", "https://auth.example.org/token?x=1#frag")
    header = header_of(proof)
    assert header["typ"] == "dpop+jwt" and header["alg"] == "ES256"
    assert set(header["jwk"]) == {"kty", "crv", "x", "y"}  # public parts only: no "d"
    claims = verified(proof)
    assert claims["htm"] == "POST" and claims["htu"] == "https://auth.example.org/token"
    assert before <= claims["iat"] <= int(time.time()) and "nonce" not in claims and "ath" not in claims
    assert len({verified(key.proof("POST", "https://a/token"))["jti"] for _ in range(20)}) == 20
    # The thumbprint is RFC 7638's, as the server computes it (joserfc).
    assert key.thumbprint() == ECKey.import_key(header["jwk"]).thumbprint()


def test_a_proof_carries_the_servers_nonce_and_the_access_tokens_hash():
    key = ProofKey.generate()
    claims = verified(key.proof("GET", "https://a/userinfo", nonce="n-123", access_token="eyJ.abc.def"))
    assert claims["nonce"] == "n-123"
    assert claims["ath"] == base64.urlsafe_b64encode(hashlib.sha256(b"eyJ.abc.def").digest()).rstrip(b"=").decode()
    assert target_uri("http://h:8080/p/q?a=b") == "http://h:8080/p/q"


def test_the_key_round_trips_through_its_file_and_a_bad_file_is_one_clear_error(tmp_path: Path):
    key = ProofKey.generate()
    path = tmp_path / "dpop_key"
    path.write_text(key.pem())
    assert ProofKey.load(path).thumbprint() == key.thumbprint()
    assert ProofKey.load(tmp_path / "missing") is None
    path.write_text("not a key")
    try:
        ProofKey.load(path)
    except Exception as exc:  # noqa: BLE001 - the message is what the user reads
        assert "not a private key; run 'gridauth login' again" in str(exc)
    else:
        raise AssertionError("a bad key file was accepted")


def test_login_keeps_its_key_beside_the_refresh_token_and_logout_removes_it(service, cli):
    result = cli.login(service, "dteam_user")
    assert result.returncode == 0, result.stderr
    key_file = cli.client_dir / "dpop_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "PRIVATE KEY" in key_file.read_text()
    bearer = cli.bearer.read_text()
    assert "PRIVATE KEY" not in bearer and jwt_claims(bearer.strip())["client_id"] == "gridauth-cli"
    first = key_file.read_text()
    again = cli.login(service, "dteam_user")  # a new login, a new key
    assert again.returncode == 0, again.stderr
    assert key_file.read_text() != first
    assert cli.run("token", "--min-lifetime", "100000").returncode == 0  # refreshed with a proof
    out = cli.run("logout")
    assert out.returncode == 0, out.stderr
    assert not key_file.exists()
