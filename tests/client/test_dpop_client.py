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

from .conftest import Cli, assert_one_line_failure, jwt_claims, user_env


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


def test_a_session_copied_without_its_key_is_useless(service, cli, tmp_path: Path):
    """The refresh token is bound to the login's key: a copy of the session files without ``dpop_key`` is refused,
    and, the token looking stolen, the holder's session from this client ends too (``RevokeOnTheft``)."""
    assert cli.login(service, "dteam_user").returncode == 0
    refresh_token = cli.refresh_file.read_text().strip()
    assert service.introspect(refresh_token)["cnf"]["jkt"] == ProofKey.load(cli.client_dir / "dpop_key").thumbprint()
    thief = Cli(tmp_path / "thief", user_env(tmp_path / "thief"))
    thief.client_dir.mkdir(parents=True, mode=0o700)
    for name in ("session.json", "refresh_token", "access_token"):  # everything but the key
        (thief.client_dir / name).write_text((cli.client_dir / name).read_text())
        (thief.client_dir / name).chmod(0o600)
    stolen = thief.run("token", "--min-lifetime", "100000")
    line = assert_one_line_failure(stolen, 18)
    assert "invalid_dpop_proof" in line
    assert service.introspect(refresh_token) == {"active": False}  # revoked as a possible theft
    assert cli.run("token", "--min-lifetime", "100000").returncode == 15  # the holder logs in again
