"""DPoP (RFC 9449) at the token endpoint, over real HTTP: proofs checked, what they bind, refreshes of bound grants.

Proofs are made with joserfc (tests/oauth/proofs.py). The example's issuer is ``http://localhost:8080``,
so a proof's ``htu`` is the token endpoint discovery names there, whatever port the test server has.
"""

from __future__ import annotations

import base64
import http.client
import json
from pathlib import Path

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from gridauth.config import cfgfile
from gridauth.errors import ConfigInvalid

from .conftest import PORTAL, SERVICE, Browser, Service, issue_grant
from .conftest import http as http_request
from .proofs import TOKEN_URL, Holder, new_key
from .real_serve import scrape, start_serve, value
from .test_device_flow import CLI, GRANT, approve, start

CLIENTS = "/DIRAC/Security/Authorization/Clients"


def claims_of(token: str) -> dict:
    """The payload of a JWT we issued (its signature is the server's business; introspection checks it)."""
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def client_token(service, proof: str | None, client=SERVICE):
    """A client-credentials request by the example resource server, with *proof* as its DPoP header."""
    return service.post("/token", {"grant_type": "client_credentials"}, auth=client,
                        headers={"DPoP": proof} if proof is not None else {})


def set_option(service, client: str, option: str, value: str) -> None:
    """Set a client's option the administrators' way (``gridauth config set``) and reload."""
    service.edit(lambda cfg: cfgfile.set_option(cfg, f"{CLIENTS}/{client}/{option}", value))


def device_login(service, holder: Holder | None) -> dict:
    """A device-flow login of alice by the CLI client, its token request carrying a proof by *holder*."""
    flow = start(service)
    approve(Browser(service), flow)
    service.clock.advance(5)
    headers = {"DPoP": holder.proof()} if holder else {}
    reply = service.post("/token", {"grant_type": GRANT, "device_code": flow["device_code"], "client_id": CLI},
                         headers=headers)
    assert reply.status == 200, reply.body
    return reply.body


def refresh(service, refresh_token: str, holder: Holder | None, client=(CLI, None)):
    """A refresh by *client* (the CLI by default), with a proof by *holder* (None: none)."""
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    headers = {"DPoP": holder.proof()} if holder else {}
    if client[1] is None:
        return service.post("/token", {**data, "client_id": client[0]}, headers=headers)
    return service.post("/token", data, auth=client, headers=headers)


cli_refresh = refresh


# -- proofs ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("alg", ["ES256", "ES384", "EdDSA", "Ed25519", "RS256", "PS256"])
def test_a_proof_with_each_algorithm_binds_the_access_token(service, alg):
    holder = Holder(alg, clock=service.clock)
    reply = client_token(service, holder.proof())
    assert reply.status == 200, reply.body
    assert reply.body["token_type"] == "DPoP"
    assert claims_of(reply.body["access_token"])["cnf"] == {"jkt": holder.jkt}
    assert service.introspect(reply.body["access_token"])["active"] is True


def test_without_a_proof_the_token_is_bearer_as_before(service):
    reply = client_token(service, None)
    assert reply.status == 200 and reply.body["token_type"] == "Bearer"
    assert "cnf" not in claims_of(reply.body["access_token"])


def _hs256(holder: Holder) -> str:
    key = OctKey.generate_key(256)
    return jwt.encode({"typ": "dpop+jwt", "alg": "HS256", "jwk": key.as_dict()},
                      {"jti": "x", "htm": "POST", "htu": TOKEN_URL, "iat": holder.now()}, key, algorithms=["HS256"])


def _none(holder: Holder) -> str:
    return jwt.encode({"typ": "dpop+jwt", "alg": "none", "jwk": holder.key.as_dict(private=False)},
                      {"jti": "x", "htm": "POST", "htu": TOKEN_URL, "iat": holder.now()}, None, algorithms=["none"])


def _other_signer(holder: Holder) -> str:
    other = new_key("ES256")
    return jwt.encode({"typ": "dpop+jwt", "alg": "ES256", "jwk": holder.key.as_dict(private=False)},
                      {"jti": "x", "htm": "POST", "htu": TOKEN_URL, "iat": holder.now()}, other, algorithms=["ES256"])


MALFORMED = {
    "wrong typ": (lambda h: h.proof(header={"typ": "JWT"}), "typ must be dpop+jwt"),
    "alg none": (_none, "alg must be one of"),
    "alg HS256": (_hs256, "alg must be one of"),
    "private key in jwk": (lambda h: h.proof(header={"jwk": h.key.as_dict(private=True)}), "private key"),
    "no jwk": (lambda h: h.proof(no_jwk=True), "public key as jwk"),
    "signed by another key": (_other_signer, "signature does not verify"),
    "wrong htm": (lambda h: h.proof(method="GET"), "htm must be POST"),
    "wrong htu": (lambda h: h.proof(url="http://localhost:8080/userinfo"), "htu must be http://localhost:8080/token"),
    "htu of another host": (lambda h: h.proof(url="http://evil.example:8080/token"), "htu must be"),
    "stale iat": (lambda h: h.proof(iat=h.now() - 600), "iat is too far"),
    "future iat": (lambda h: h.proof(iat=h.now() + 600), "iat is too far"),
    "no iat": (lambda h: h.proof(drop=("iat",)), "needs an iat"),
    "no jti": (lambda h: h.proof(drop=("jti",)), "needs a jti"),
    "not a JWT": (lambda h: "not-a-proof", "exactly one proof"),
    "two proofs": (lambda h: h.proof() + "," + h.proof(), "exactly one proof"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_every_malformed_proof_is_refused_and_nothing_issued(service, case):
    make, phrase = MALFORMED[case]
    reply = client_token(service, make(Holder(clock=service.clock)))
    assert reply.status == 400, reply.body
    assert reply.body["error"] == "invalid_dpop_proof"
    assert phrase in reply.body["error_description"], reply.body
    assert "access_token" not in reply.body


def test_htu_is_compared_without_query_and_with_scheme_host_and_port_normalised(service):
    holder = Holder(clock=service.clock)
    for url in ("HTTP://LOCALHOST:8080/token?x=1#frag", "http://localhost:8080/token"):
        reply = client_token(service, holder.proof(url=url))
        assert reply.status == 200, (url, reply.body)


def test_two_dpop_headers_are_refused(service):
    """Two ``DPoP`` header lines (urllib keeps one per name, so the request is written by http.client)."""
    holder = Holder(clock=service.clock)
    body = b"grant_type=client_credentials"
    basic = base64.b64encode(":".join(SERVICE).encode()).decode()
    conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=30)
    conn.putrequest("POST", "/token")
    for name, content in (("Content-Type", "application/x-www-form-urlencoded"), ("Authorization", f"Basic {basic}"),
                        ("DPoP", holder.proof()), ("DPoP", holder.proof()), ("Content-Length", str(len(body)))):
        conn.putheader(name, content)
    conn.endheaders(body)
    answer = conn.getresponse()
    reply = json.loads(answer.read())
    conn.close()
    assert answer.status == 400 and reply["error"] == "invalid_dpop_proof", reply


def test_a_proof_is_accepted_once(service):
    def refused() -> float:
        return value(scrape(service), "gridauth_token_errors_total", grant_type="client_credentials",
                     error="invalid_dpop_proof")
    proof = Holder(clock=service.clock).proof()
    assert client_token(service, proof).status == 200
    before = refused()
    again = client_token(service, proof)
    assert again.status == 400 and again.body["error"] == "invalid_dpop_proof"
    assert "used already" in again.body["error_description"]
    assert refused() == before + 1  # counted under its own error code, not "other"


def test_a_proof_replayed_at_another_process_is_refused(config_file: Path, db_url, tmp_path):
    """Two processes over one database (SQLite or MariaDB): a proof used at one is refused at the other."""
    text = config_file.read_text(encoding="utf-8")
    config_file.write_text(text.replace("      DeviceCodeInterval = 5",
                                        "      issuer = http://localhost:8080\n      DeviceCodeInterval = 5"),
                           encoding="utf-8")
    here = Service(config_file, db_url)
    other = start_serve(config_file, db_url, tmp_path, "--behind-proxy")
    try:
        proof = Holder().proof()
        first = here.post("/token", {"grant_type": "client_credentials"}, auth=SERVICE, headers={"DPoP": proof})
        assert first.status == 200, first.body
        again = http_request(other.url + "/token", {"grant_type": "client_credentials"}, auth=SERVICE,
                     headers={"DPoP": proof})
        assert again.status == 400 and again.body["error"] == "invalid_dpop_proof", again.body
        fresh = http_request(other.url + "/token", {"grant_type": "client_credentials"}, auth=SERVICE,
                     headers={"DPoP": Holder().proof()})
        assert fresh.status == 200 and fresh.body["token_type"] == "DPoP", fresh.body
    finally:
        other.stop()
        here.stop()


def test_used_proofs_are_purged_once_their_window_is_over(service):
    for _ in range(3):
        assert client_token(service, Holder(clock=service.clock).proof()).status == 200
    assert service.context.purge()["dpop_proofs"] == 0
    service.clock.advance(200)
    assert service.context.purge()["dpop_proofs"] == 3


def test_nonces_when_the_operator_enables_them(service):
    service.edit(lambda cfg: cfgfile.set_option(cfg, "/DIRAC/Security/Authorization/DPoPNonce", "yes"))
    holder = Holder(clock=service.clock)
    first = client_token(service, holder.proof())
    assert first.status == 400 and first.body["error"] == "use_dpop_nonce", first.body
    nonce = first.headers["DPoP-Nonce"]
    assert nonce
    reply = client_token(service, holder.proof(claims={"nonce": nonce}))
    assert reply.status == 200, reply.body
    forged = client_token(service, holder.proof(claims={"nonce": nonce[:-2] + "AA"}))
    assert forged.body["error"] == "use_dpop_nonce"
    service.clock.advance(700)  # two nonce periods later the old nonce is refused, a new one handed out
    late = client_token(service, holder.proof(claims={"nonce": nonce}))
    assert late.body["error"] == "use_dpop_nonce" and late.headers["DPoP-Nonce"] != nonce


def test_a_client_that_requires_dpop_gets_nothing_without_a_proof(service):
    set_option(service, "example-service", "DPoP", "required")
    reply = client_token(service, None)
    assert reply.status == 400 and reply.body["error"] == "invalid_dpop_proof"
    assert client_token(service, Holder(clock=service.clock).proof()).status == 200


def test_a_client_with_dpop_off_ignores_the_header(service):
    set_option(service, "example-service", "DPoP", "off")
    reply = client_token(service, "not-a-proof")
    assert reply.status == 200 and reply.body["token_type"] == "Bearer"


# -- what a proof binds ----------------------------------------------------------------------------
def test_a_bearer_client_gets_bearer_access_tokens_even_with_a_proof(service):
    set_option(service, "example-service", "AccessTokenType", "Bearer")
    reply = client_token(service, Holder(clock=service.clock).proof())
    assert reply.status == 200 and reply.body["token_type"] == "Bearer"
    assert "cnf" not in claims_of(reply.body["access_token"])


def test_the_cli_client_gets_a_bound_refresh_token_and_bearer_access_tokens(service, accounts):
    holder = Holder(clock=service.clock)
    tokens = device_login(service, holder)
    assert tokens["token_type"] == "Bearer"  # grid services accept Bearer tokens only
    assert "cnf" not in claims_of(tokens["access_token"])
    with_key = cli_refresh(service, tokens["refresh_token"], holder)
    assert with_key.status == 200 and with_key.body["token_type"] == "Bearer", with_key.body


def test_a_bound_refresh_token_needs_a_proof_by_its_key_and_nothing_is_issued_otherwise(service, accounts):
    set_option(service, CLI, "RevokeOnTheft", "no")  # the binding alone here; the theft response: test_theft.py
    holder = Holder(clock=service.clock)
    tokens = device_login(service, holder)
    latest = cli_refresh(service, tokens["refresh_token"], holder).body["access_token"]

    missing = cli_refresh(service, tokens["refresh_token"], None)
    assert missing.status == 400 and missing.body["error"] == "invalid_dpop_proof", missing.body
    wrong = cli_refresh(service, tokens["refresh_token"], Holder(clock=service.clock))
    assert wrong.status == 400 and wrong.body["error"] == "invalid_grant", wrong.body
    assert "another DPoP key" in wrong.body["error_description"]
    # nothing was issued nor renewed: the latest access token is still the active one
    assert service.introspect(latest)["active"] is True

    right = cli_refresh(service, tokens["refresh_token"], holder)
    assert right.status == 200, right.body
    assert service.introspect(latest) == {"active": False}


def test_a_public_client_with_dpop_access_tokens_gets_them_bound(service, accounts):
    set_option(service, CLI, "AccessTokenType", "DPoP")
    holder = Holder("EdDSA", clock=service.clock)
    tokens = device_login(service, holder)
    assert tokens["token_type"] == "DPoP"
    assert claims_of(tokens["access_token"])["cnf"] == {"jkt": holder.jkt}
    refreshed = cli_refresh(service, tokens["refresh_token"], holder).body
    assert refreshed["token_type"] == "DPoP" and claims_of(refreshed["access_token"])["cnf"] == {"jkt": holder.jkt}


def test_the_cli_client_as_shipped_needs_a_proof_to_log_in(service, accounts):
    flow = start(service)
    approve(Browser(service), flow)
    service.clock.advance(5)
    reply = service.post("/token", {"grant_type": GRANT, "device_code": flow["device_code"], "client_id": CLI})
    assert (reply.status, reply.body["error"]) == (400, "invalid_dpop_proof"), reply.body
    assert reply.body["error_description"] == f"the client {CLI} must send a DPoP proof"


def test_a_login_without_a_proof_leaves_the_refresh_token_unbound(service, accounts):
    set_option(service, CLI, "DPoP", "allowed")
    tokens = device_login(service, None)
    assert cli_refresh(service, tokens["refresh_token"], None).status == 200


def test_a_confidential_clients_refresh_token_is_not_bound_but_its_access_tokens_are(service):
    """RFC 9449 §5: a confidential client's refresh token is bound by its authentication already."""
    rt = issue_grant(service)
    bound = refresh(service, rt, Holder(clock=service.clock), client=PORTAL)
    assert bound.status == 200 and bound.body["token_type"] == "DPoP", bound.body
    assert refresh(service, rt, None, client=PORTAL).body["token_type"] == "Bearer"


def test_dpop_options_are_validated(service):
    with pytest.raises(ConfigInvalid, match=f"{CLIENTS}/{CLI}/DPoP: expected one of required, allowed, off"):
        set_option(service, CLI, "DPoP", "sometimes")
    with pytest.raises(ConfigInvalid, match="AccessTokenType: expected one of DPoP, Bearer, found 'MAC'"):
        set_option(service, CLI, "AccessTokenType", "MAC")


def test_public_clients_that_may_refresh_without_dpop_are_named_at_start(config_file: Path, db_url, tmp_path):
    server = start_serve(config_file, db_url, tmp_path)
    server.stop()
    lines = [line for line in server.log_text().splitlines() if "refresh without DPoP" in line]
    assert len(lines) == 1 and lines[0].endswith(
        "public clients allowed to refresh without DPoP (their refresh tokens are plain bearer secrets unless "
        f"they send proofs): oidc-agent; set {CLIENTS}/<name>/DPoP = required once they send DPoP proofs"), lines
    text = config_file.read_text(encoding="utf-8")
    config_file.write_text(text.replace("DPoP = allowed", "DPoP = required"), encoding="utf-8")
    server = start_serve(config_file, db_url, tmp_path)
    server.stop()
    assert "refresh without DPoP" not in server.log_text()
