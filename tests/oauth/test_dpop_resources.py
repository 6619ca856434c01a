"""DPoP beyond the token endpoint, over real HTTP: discovery, introspection, /userinfo, dpop_jkt at /authorize."""

from __future__ import annotations

from .conftest import PORTAL, Browser, Reply, http, issue_grant
from .proofs import USERINFO_URL, Holder
from .test_code_flow import CLI_CB, PORTAL_CB, authorize_url, login_and_get_code, pkce
from .test_dpop import CLI, claims_of, device_login, refresh


def userinfo(service, scheme: str, token: str, proof: str | None = None, method: str = "GET") -> Reply:
    """``/userinfo`` with ``Authorization: <scheme> <token>`` and *proof* as the DPoP header."""
    headers = {"Authorization": f"{scheme} {token}", **({"DPoP": proof} if proof else {})}
    return http(service.url + "/userinfo", b"" if method == "POST" else None, headers=headers, method=method)


def bound_access_token(service) -> tuple[str, Holder]:
    """A DPoP-bound user access token (the portal's refresh with a proof) and its holder."""
    holder = Holder(clock=service.clock)
    reply = refresh(service, issue_grant(service), holder, client=PORTAL)
    assert reply.status == 200 and reply.body["token_type"] == "DPoP", reply.body
    return reply.body["access_token"], holder


def test_discovery_names_the_dpop_algorithms(service):
    algs = service.get("/.well-known/openid-configuration").body["dpop_signing_alg_values_supported"]
    assert {"ES256", "EdDSA", "RS256", "PS256"} <= set(algs)
    assert not {"none", "HS256"} & set(algs)


def test_introspection_shows_the_key_of_a_bound_access_token(service):
    token, holder = bound_access_token(service)
    answer = service.introspect(token)
    assert answer["active"] is True and answer["token_type"] == "DPoP"
    assert answer["cnf"] == {"jkt": holder.jkt}


def test_introspection_shows_the_key_of_a_bound_refresh_token(service, accounts):
    holder = Holder(clock=service.clock)
    tokens = device_login(service, holder)
    assert service.introspect(tokens["refresh_token"])["cnf"] == {"jkt": holder.jkt}
    assert "cnf" not in service.introspect(tokens["access_token"])  # the CLI's access tokens are Bearer


def test_userinfo_takes_a_bound_token_with_the_dpop_scheme_and_a_proof(service):
    token, holder = bound_access_token(service)
    reply = userinfo(service, "DPoP", token, holder.proof(USERINFO_URL, "GET", access_token=token))
    assert reply.status == 200 and reply.body["sub"] == "alice", reply.body
    posted = userinfo(service, "DPoP", token, holder.proof(USERINFO_URL, "POST", access_token=token), method="POST")
    assert posted.status == 200, posted.body


def test_userinfo_refuses_a_bound_token_presented_otherwise(service):
    token, holder = bound_access_token(service)
    cases = {
        "as Bearer": ("Bearer", None, "invalid_token", "Bearer"),
        "no proof": ("DPoP", None, "invalid_dpop_proof", "DPoP"),
        "no ath": ("DPoP", holder.proof(USERINFO_URL, "GET"), "invalid_dpop_proof", "DPoP"),
        "ath of another token": ("DPoP", holder.proof(USERINFO_URL, "GET", access_token=token + "x"),
                                 "invalid_dpop_proof", "DPoP"),
        "another key": ("DPoP", Holder(clock=service.clock).proof(USERINFO_URL, "GET", access_token=token),
                        "invalid_dpop_proof", "DPoP"),
        "htu of /token": ("DPoP", holder.proof(method="GET", access_token=token), "invalid_dpop_proof", "DPoP"),
    }
    for name, (scheme, proof, error, challenge) in cases.items():
        reply = userinfo(service, scheme, token, proof)
        assert reply.status == 401 and reply.body["error"] == error, (name, reply.body)
        assert reply.headers["WWW-Authenticate"].startswith(f'{challenge} error="{error}"'), name


def test_userinfo_refuses_a_replayed_proof(service):
    token, holder = bound_access_token(service)
    proof = holder.proof(USERINFO_URL, "GET", access_token=token)
    assert userinfo(service, "DPoP", token, proof).status == 200
    again = userinfo(service, "DPoP", token, proof)
    assert again.status == 401 and again.body["error"] == "invalid_dpop_proof"


def test_an_unbound_token_stays_bearer_at_userinfo(service):
    reply = refresh(service, issue_grant(service), None, client=PORTAL)
    token = reply.body["access_token"]
    assert userinfo(service, "Bearer", token).status == 200
    wrong = userinfo(service, "DPoP", token, Holder(clock=service.clock).proof(USERINFO_URL, "GET",
                                                                                access_token=token))
    assert wrong.status == 401 and wrong.body["error"] == "invalid_token"


def _code(service, holder_jkt: str | None, client: str = CLI, redirect: str = CLI_CB) -> tuple[str, str]:
    verifier, challenge = pkce()
    extra = {"dpop_jkt": holder_jkt} if holder_jkt else {}
    query = login_and_get_code(Browser(service), authorize_url(client, redirect, "openid g:dteam_user",
                                                               challenge=challenge, **extra))
    return query["code"][0], verifier


def _exchange(service, code: str, verifier: str, holder: Holder | None):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": CLI_CB, "code_verifier": verifier,
            "client_id": CLI}
    return service.post("/token", data, headers={"DPoP": holder.proof()} if holder else {})


def test_dpop_jkt_binds_the_code_to_the_key(service, accounts):
    holder = Holder(clock=service.clock)
    code, verifier = _code(service, holder.jkt)
    missing = _exchange(service, code, verifier, None)
    assert missing.status == 400 and missing.body["error"] == "invalid_dpop_proof", missing.body

    code, verifier = _code(service, holder.jkt)
    wrong = _exchange(service, code, verifier, Holder(clock=service.clock))
    assert wrong.status == 400 and wrong.body["error"] == "invalid_grant", wrong.body
    assert "authorization code is bound to another DPoP key" in wrong.body["error_description"]

    code, verifier = _code(service, holder.jkt)
    right = _exchange(service, code, verifier, holder)
    assert right.status == 200, right.body
    assert "cnf" not in claims_of(right.body["access_token"])  # the CLI client's access tokens are Bearer
    assert service.introspect(right.body["refresh_token"])["cnf"] == {"jkt": holder.jkt}


def test_a_malformed_dpop_jkt_is_sent_back_to_the_client(service, accounts):
    verifier, challenge = pkce()
    status, _, location = Browser(service).follow(
        authorize_url("example-portal", PORTAL_CB, "openid", challenge=challenge, dpop_jkt="not a thumbprint"))
    assert status == 302 and location.startswith(PORTAL_CB), (status, location)
    assert "error=invalid_request" in location and "dpop_jkt" in location
    assert verifier
