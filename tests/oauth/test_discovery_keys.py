"""Discovery metadata, the JWKS, and key rotation."""

from __future__ import annotations

import subprocess
import sys

from joserfc import jwt
from joserfc.jwk import KeySet

from .conftest import SERVICE, http, issue_grant


def test_discovery_advertises_every_endpoint(service):
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        meta = service.get(path).body
        assert meta["issuer"] == "http://localhost:8080"
        for name in ("token_endpoint", "revocation_endpoint", "introspection_endpoint", "jwks_uri"):
            assert meta[name].startswith("http://localhost:8080/")
        assert {"client_credentials", "refresh_token"} <= set(meta["grant_types_supported"])
        assert set(meta["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post",
                                                                      "none"}
        assert meta["code_challenge_methods_supported"] == ["S256"]
        assert {"group:dteam_user", "wlcg", "wlcg.groups"} <= set(meta["scopes_supported"])
        assert meta["id_token_signing_alg_values_supported"] == ["RS256"]


def test_discovery_endpoints_answer_at_the_advertised_paths(service):
    meta = service.get("/.well-known/openid-configuration").body
    jwks = http(meta["jwks_uri"].replace("http://localhost:8080", service.url))
    assert jwks.status == 200 and jwks.body["keys"]


def test_jwks_verifies_issued_tokens(service):
    token = service.post("/token", {"grant_type": "client_credentials"}, auth=SERVICE).body["access_token"]
    jwks = KeySet.import_key_set(service.get("/jwks").body)
    assert jwt.decode(token, jwks, algorithms=["RS256"]).claims["client_id"] == "example-service"


def test_rotation_publishes_new_key_and_keeps_the_old_one(service, db_url):
    old_token = service.post("/token", {"grant_type": "client_credentials"}, auth=SERVICE).body["access_token"]
    old_kids = {k["kid"] for k in service.get("/jwks").body["keys"]}
    out = subprocess.run([sys.executable, "-m", "gridauth.cli.main", "keys", "rotate", "--config",
                          str(service.config), "--db", db_url, "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    service.context.keyring.load()  # what each process does every 10 s
    kids = {k["kid"] for k in service.get("/jwks").body["keys"]}
    assert old_kids < kids
    # Published at once, the new key signs only after cached JWKS (max-age 60 s) have been refreshed.
    still_old = service.post("/token", {"grant_type": "client_credentials"}, auth=SERVICE).body["access_token"]
    assert jwt.decode(still_old, KeySet.import_key_set(service.get("/jwks").body)).header["kid"] in old_kids
    service.clock.advance(81)
    new_token = service.post("/token", {"grant_type": "client_credentials"}, auth=SERVICE).body["access_token"]
    assert jwt.decode(new_token, KeySet.import_key_set(service.get("/jwks").body)).header["kid"] in kids - old_kids
    jwks = KeySet.import_key_set(service.get("/jwks").body)
    for token in (old_token, new_token):
        jwt.decode(token, jwks, algorithms=["RS256"])
    assert service.introspect(old_token)["active"] is True
    # Once every token the old key signed has expired, the old key is no longer published.
    service.clock.advance(1200 + 120)
    service.context.keyring.load()
    assert {k["kid"] for k in service.get("/jwks").body["keys"]} == kids - old_kids


def test_es256_and_eddsa_are_selectable(service):
    for alg in ("ES256", "EdDSA"):
        service.edit(lambda cfg, alg=alg: cfg.setOption("DIRAC/Security/Authorization/SigningAlgorithm", alg))
        service.context.prepare_storage()
        rt = issue_grant(service)
        token = service.refresh(rt).body["access_token"]
        jwks = KeySet.import_key_set(service.get("/jwks").body)
        assert jwt.decode(token, jwks, algorithms=[alg]).header["alg"] == alg
        assert service.introspect(token)["active"] is True
