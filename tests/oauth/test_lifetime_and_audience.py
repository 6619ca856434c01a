"""``lifetime:N`` shortens an access token, never beyond the client's and the global maximum; ``resource`` /
``audience`` narrow its ``aud``. ``expires_in`` and ``exp`` say the granted lifetime, and the scope
echoes only what was honoured.
"""

from __future__ import annotations

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from .conftest import SERVICE, Service, issue_grant

CLIENTS = "DIRAC/Security/Authorization/Clients"
STORAGE = "https://storage.example.org"


def claims_of(service: Service, token: str) -> dict:
    return dict(jwt.decode(token, KeySet.import_key_set(service.get("/jwks").body)).claims)


def lifetime_of(service: Service, reply) -> tuple[int, int, str]:
    """(expires_in, exp - iat, scope) of a token response, the scope the same in the response and the token."""
    assert reply.status == 200, reply.body
    claims = claims_of(service, reply.body["access_token"])
    assert claims["scope"] == reply.body.get("scope", "")
    return reply.body["expires_in"], claims["exp"] - claims["iat"], claims["scope"]


@pytest.mark.parametrize(("asked", "lifetime", "echoed"), [
    ("lifetime:300", 300, True),
    ("lifetime:1199", 1199, True),
    ("lifetime:1200", 1200, False),  # the maximum itself: nothing shortened
    ("lifetime:86400", 1200, False),  # beyond the global maximum: not honoured, not echoed
])
def test_lifetime_shortens_the_access_token_within_the_global_maximum(service, asked, lifetime, echoed):
    expires_in, span, scope = lifetime_of(service, service.refresh(issue_grant(service, scope=f"openid {asked}")))
    assert expires_in == span == lifetime
    assert (asked in scope.split()) is echoed


def test_lifetime_never_beyond_the_clients_own_maximum(service):
    service.edit(lambda cfg: cfg.setOption(f"{CLIENTS}/example-portal/AccessTokenLifetime", "600"))
    assert lifetime_of(service, service.refresh(issue_grant(service, scope="openid lifetime:900")))[:2] == (600, 600)
    expires_in, span, scope = lifetime_of(service, service.refresh(issue_grant(service, scope="openid lifetime:60")))
    assert expires_in == span == 60 and "lifetime:60" in scope.split()


def test_a_refresh_may_ask_another_lifetime(service):
    token = issue_grant(service, scope="openid lifetime:300 group:dteam_user")
    assert lifetime_of(service, service.refresh(token))[:2] == (300, 300)  # kept in the grant's scope
    assert lifetime_of(service, service.refresh(token, scope="openid lifetime:100 group:dteam_user"))[:2] == (100, 100)
    assert lifetime_of(service, service.refresh(token, scope="openid group:dteam_user"))[:2] == (1200, 1200)


def test_a_client_token_honours_lifetime_too(service):
    reply = service.post("/token", {"grant_type": "client_credentials", "scope": "lifetime:120"}, auth=SERVICE)
    assert lifetime_of(service, reply) == (120, 120, "lifetime:120")


@pytest.mark.parametrize("asked", ["lifetime:0", "lifetime:abc", "lifetime:-5", "lifetime:", "lifetime:1234567890",
                                   "lifetime:100 lifetime:200"])
def test_a_malformed_lifetime_is_invalid_scope(service, asked):
    reply = service.post("/token", {"grant_type": "client_credentials", "scope": asked}, auth=SERVICE)
    assert reply.status == 400 and reply.body["error"] == "invalid_scope", reply.body


def test_audience_and_lifetime_narrow_a_profile_token_together(service):
    service.edit(lambda cfg: cfg.setOption(f"{CLIENTS}/example-portal/Audiences", STORAGE))
    reply = service.refresh(issue_grant(service, scope="openid wlcg lifetime:600 group:dteam_user"), resource=STORAGE)
    expires_in, span, scope = lifetime_of(service, reply)
    claims = claims_of(service, reply.body["access_token"])
    assert claims["aud"] == STORAGE and claims["wlcg.ver"] == "1.0"
    assert expires_in == span == 600 and "lifetime:600" in scope.split()
    refused = service.refresh(issue_grant(service, scope="openid wlcg"), resource="https://other.example.org")
    assert refused.status == 400 and refused.body["error"] == "invalid_target"
