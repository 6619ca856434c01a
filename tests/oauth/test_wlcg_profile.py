"""The WLCG Common JWT Profile (1.x): access tokens checked against the profile claim by claim.

``PROFILE`` is a JSON Schema of the profile's access-token claims (§2.1.1, §2.1.3, §2.2.1, §2.2.2):
each claim's type and grammar, the required ones, and nothing else but the claims gridauth
documents after them (docs/tokens.md). The profile is on per VO (``/Registry/VO/<vo>/WLCGClaims``)
or for the whole issuer, or when the scope asks for ``wlcg`` / ``wlcg.groups``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from jsonschema import Draft202012Validator

from .conftest import PORTAL, SERVICE, Browser, Service, issue_grant
from .test_code_flow import PORTAL_CB, authorize_url, login_and_get_code

AUTHZ = "DIRAC/Security/Authorization"
GROUP = r"(/[A-Za-z0-9][A-Za-z0-9_.-]*)+"
CAPABILITY = (r"(storage\.(read|create|modify|stage|poll):/[^\s]*"
              r"|compute\.(read|modify|create|cancel)(:/[^\s]*)?)")
PROFILE: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "WLCG Common JWT Profile 1.x access token",
    "type": "object",
    "required": ["wlcg.ver", "sub", "iss", "aud", "iat", "exp", "jti"],
    "properties": {
        "wlcg.ver": {"type": "string", "pattern": r"^[0-9]+\.[0-9]+$"},
        "sub": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[\x21-\x7e]+$"},
        "iss": {"type": "string", "pattern": r"^https?://[^/?#\s]+(/[^?#\s]*)?$"},
        "aud": {"oneOf": [{"type": "string", "minLength": 1},
                          {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}}]},
        "iat": {"type": "integer"},
        "nbf": {"type": "integer"},
        "exp": {"type": "integer"},
        "jti": {"type": "string", "minLength": 1},
        "scope": {"type": "string"},
        "wlcg.groups": {"type": "array", "uniqueItems": True, "items": {"type": "string", "pattern": f"^{GROUP}$"}},
        # gridauth's own claims, after the profile's (RFC 9068 client_id, the DIRAC claims, OIDC auth_time)
        "client_id": {"type": "string"},
        "preferred_username": {"type": "string"},
        "vo": {"type": "string"},
        "dirac_group": {"type": "string"},
        "dirac_properties": {"type": "array", "items": {"type": "string"}},
        "auth_time": {"type": "integer"},
        "cnf": {"type": "object"},
    },
    "additionalProperties": False,
}
ORDER = ["wlcg.ver", "sub", "iss", "aud", "iat", "nbf", "exp", "jti", "scope", "wlcg.groups"]


def check_profile(claims: dict[str, Any]) -> None:
    """The claims against the schema, then what a schema cannot say: times, order, the scope's capabilities."""
    Draft202012Validator.check_schema(PROFILE)
    errors = sorted(Draft202012Validator(PROFILE).iter_errors(claims), key=str)
    assert not errors, [e.message for e in errors]
    assert claims["iat"] <= claims["nbf"] < claims["exp"]
    assert [name for name in claims if name in ORDER] == [name for name in ORDER if name in claims]
    assert list(claims)[:len([n for n in ORDER if n in claims])] == [n for n in ORDER if n in claims]
    for item in claims.get("scope", "").split():
        if item.startswith(("storage.", "compute.")):
            assert re.fullmatch(CAPABILITY, item), item
            path = item.partition(":")[2]
            assert "//" not in path and "/./" not in path and "/../" not in path and (path == "/" or
                                                                                      not path.endswith("/"))


def decode(service: Service, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of a token, its signature verified."""
    found = jwt.decode(token, KeySet.import_key_set(service.get("/jwks").body))
    return dict(found.header), dict(found.claims)


def set_option(service: Service, path: str, value: str) -> None:
    service.edit(lambda cfg: cfg.setOption(path, value))


def refreshed(service: Service, scope: str, user: str = "alice") -> tuple[dict[str, Any], dict[str, Any]]:
    """(the token response, the access token's claims) of a refresh of a new grant with *scope*."""
    reply = service.refresh(issue_grant(service, user, scope))
    assert reply.status == 200, reply.body
    return reply.body, decode(service, reply.body["access_token"])[1]


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_tokens_follow_the_profile_with_either_algorithm(config_file: Path, db_url: str, algorithm: str):
    text = config_file.read_text().replace("SigningAlgorithm = RS256", f"SigningAlgorithm = {algorithm}")
    config_file.write_text(text.replace("AuthorizationCodeLifetime = 300", "AuthorizationCodeLifetime = 300\n"
                                        "      WLCGClaims = yes"))
    service = Service(config_file, db_url)
    try:
        reply = service.refresh(issue_grant(service, scope="openid profile group:dteam_user"))
        assert reply.status == 200, reply.body
        header, claims = decode(service, reply.body["access_token"])
        assert header["alg"] == algorithm and header["typ"] == "at+jwt"
        check_profile(claims)
        assert claims["wlcg.ver"] == "1.0" and claims["sub"] == "alice"
        assert claims["wlcg.groups"] == ["/dteam", "/dteam/dteam_user"]
        assert claims["exp"] - claims["iat"] == reply.body["expires_in"] == 1200
        client = service.post("/token", {"grant_type": "client_credentials"}, auth=SERVICE)
        assert client.status == 200, client.body
        _, claims = decode(service, client.body["access_token"])
        check_profile(claims)
        assert "wlcg.groups" not in claims and claims["sub"] == "example-service"
    finally:
        service.stop()


def test_the_profile_per_vo(service):
    set_option(service, "Registry/VO/dteam/WLCGClaims", "yes")
    _, dteam = refreshed(service, "openid group:dteam_user")
    _, lhcb = refreshed(service, "openid group:lhcb_user")
    check_profile(dteam)
    assert "wlcg.ver" not in lhcb and "wlcg.groups" not in lhcb
    set_option(service, f"{AUTHZ}/WLCGClaims", "yes")
    set_option(service, "Registry/VO/dteam/WLCGClaims", "no")
    _, dteam = refreshed(service, "openid group:dteam_user")
    _, lhcb = refreshed(service, "openid group:lhcb_user")
    assert "wlcg.ver" not in dteam
    check_profile(lhcb)
    assert lhcb["wlcg.groups"] == ["/lhcb", "/lhcb/lhcb_user"]


@pytest.mark.parametrize(("asked", "echoed"), [("wlcg", "wlcg"), ("wlcg:1.0", "wlcg:1.0"),
                                               ("wlcg wlcg:1.0", "wlcg wlcg:1.0")])
def test_the_wlcg_scope_asks_for_a_profile_token(service, asked, echoed):
    body, claims = refreshed(service, f"openid {asked} group:dteam_user")
    check_profile(claims)
    for item in echoed.split():
        assert item in body["scope"].split() and item in claims["scope"].split()


def test_another_profile_version_is_not_honoured_nor_echoed(service):
    body, claims = refreshed(service, "openid wlcg:2.0 group:dteam_user")
    assert "wlcg.ver" not in claims
    assert "wlcg:2.0" not in body["scope"] and "wlcg:2.0" not in claims["scope"]
    refused = service.post("/device_authorization", {"client_id": "gridauth-cli", "scope": "openid wlcg:1.0 wlcg:2.0"})
    assert refused.status == 400 and refused.body["error"] == "invalid_scope"  # two versions at once


@pytest.mark.parametrize(("user", "asked", "groups", "echoed"), [
    ("alice", "wlcg.groups", ["/dteam", "/dteam/dteam_user"], ["wlcg.groups"]),
    ("alice", "wlcg.groups:/dteam/dteam_admin", ["/dteam/dteam_admin", "/dteam", "/dteam/dteam_user"],
     ["wlcg.groups:/dteam/dteam_admin"]),
    ("alice", "wlcg.groups wlcg.groups:/dteam/dteam_admin", ["/dteam", "/dteam/dteam_user", "/dteam/dteam_admin"],
     ["wlcg.groups", "wlcg.groups:/dteam/dteam_admin"]),
    ("alice", "wlcg.groups:/dteam wlcg.groups:/dteam/dteam_admin", ["/dteam", "/dteam/dteam_admin",
                                                                    "/dteam/dteam_user"],
     ["wlcg.groups:/dteam", "wlcg.groups:/dteam/dteam_admin"]),
    # not entitled: bob is not in dteam_admin; lhcb_user is another VO's group; no such group
    ("bob", "wlcg.groups:/dteam/dteam_admin", ["/dteam", "/dteam/dteam_user"], []),
    ("alice", "wlcg.groups:/lhcb/lhcb_user", ["/dteam", "/dteam/dteam_user"], []),
    ("alice", "wlcg.groups:/dteam/nogroup/sub", ["/dteam", "/dteam/dteam_user"], []),
])
def test_wlcg_groups_are_those_asked_in_order_and_only_those_entitled(service, user, asked, groups, echoed):
    body, claims = refreshed(service, f"openid {asked} group:dteam_user", user)
    check_profile(claims)
    assert claims["wlcg.groups"] == groups
    granted = [item for item in body["scope"].split() if item.startswith("wlcg.groups")]
    assert granted == echoed and claims["scope"] == body["scope"]


def test_a_removed_membership_leaves_its_wlcg_group_out_at_the_next_refresh(service):
    token = issue_grant(service, "alice", "openid wlcg.groups:/dteam/dteam_admin group:dteam_user")
    assert decode(service, service.refresh(token).body["access_token"])[1]["wlcg.groups"][0] == "/dteam/dteam_admin"
    service.edit(lambda cfg: cfg.setOption("Registry/Groups/dteam_admin/Users", "bob"))
    reply = service.refresh(token)
    assert reply.status == 200, reply.body
    assert decode(service, reply.body["access_token"])[1]["wlcg.groups"] == ["/dteam", "/dteam/dteam_user"]
    assert "wlcg.groups:/dteam/dteam_admin" not in reply.body["scope"]


def test_a_malformed_wlcg_group_is_invalid_scope(service):
    reply = service.post("/device_authorization", {"client_id": "gridauth-cli", "scope": "openid wlcg.groups:dteam"})
    assert reply.status == 400 and reply.body["error"] == "invalid_scope", reply.body


def test_the_id_token_carries_the_groups_asked_too(service, accounts):
    query = login_and_get_code(Browser(service), authorize_url(scope="openid wlcg.groups:/dteam/dteam_admin "
                                                                     "g:dteam_user"))
    reply = service.post("/token", {"grant_type": "authorization_code", "code": query["code"][0],
                                    "redirect_uri": PORTAL_CB}, auth=PORTAL)
    assert reply.status == 200, reply.body
    _, access = decode(service, reply.body["access_token"])
    check_profile(access)
    header, id_token = decode(service, reply.body["id_token"])
    assert header["typ"] == "JWT" and id_token["aud"] == "example-portal"
    assert id_token["wlcg.ver"] == "1.0"
    assert id_token["wlcg.groups"] == access["wlcg.groups"] == ["/dteam/dteam_admin", "/dteam", "/dteam/dteam_user"]
