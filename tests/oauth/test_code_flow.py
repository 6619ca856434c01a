"""The authorization code flow with PKCE and OpenID Connect, over HTTP, as a portal and a browser would run it."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from .conftest import PASSWORDS, PORTAL, Browser, Service
from .proofs import token_request_proof

PORTAL_CB = "http://localhost:8081/callback"
CLI_CB = "http://127.0.0.1/callback"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_url(client_id: str = "example-portal", redirect_uri: str = PORTAL_CB, scope: str = "openid profile",
                  challenge: str | None = None, **extra: str) -> str:
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope,
              "state": "st-123", "nonce": secrets.token_hex(8), **extra}
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    return "/authorize?" + urlencode(params)


def login_and_get_code(browser: Browser, url: str, user: str = "alice", password: str = "alice-password",
                       group: str | None = "dteam_user") -> dict[str, list[str]]:
    status, page, location = browser.follow(url)
    if "name=\"password\"" in page:
        status, page, location = browser.login(page, user, password)
    if "name=\"group\"" in page:
        assert group, "a group choice was not expected"
        status, page, location = browser.submit(page, browser.last_url, group=group, choose="1")
    assert status == 302 and location.startswith(("http://localhost:8081", "http://127.0.0.1")), (status, page)
    return parse_qs(urlsplit(location).query)


def exchange(service, code: str, verifier: str | None = None, client=PORTAL, redirect_uri: str = PORTAL_CB):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier:
        data["code_verifier"] = verifier
    if client[1] is None:  # a public client: the CLI's, whose DPoP is required
        data["client_id"] = client[0]
        return service.post("/token", data, headers=token_request_proof(service))
    return service.post("/token", data, auth=client)


@pytest.mark.parametrize(("algorithm", "hash_name"), [("RS256", "sha256"), ("ES256", "sha256"), ("EdDSA", "sha512")])
def test_the_id_tokens_at_hash_uses_the_hash_of_its_algorithm(config_file, db_url, algorithm, hash_name):
    """OpenID Connect Core §3.1.3.6; EdDSA names no hash, and an Ed25519 key's is SHA-512 (OpenID Connect Token
    Hash Algorithms 1.0), which relying parties such as openid-client check."""
    text = config_file.read_text()
    config_file.write_text(text.replace("SigningAlgorithm = RS256", f"SigningAlgorithm = {algorithm}"))
    service = Service(config_file, db_url)
    try:
        for user, password in PASSWORDS.items():
            service.context.accounts.set_password(user, password, service.clock.now())
        verifier, challenge = pkce()
        query = login_and_get_code(Browser(service), authorize_url(challenge=challenge))
        reply = exchange(service, query["code"][0], verifier)
        assert reply.status == 200, reply.body
        jwks = KeySet.import_key_set(service.get("/jwks").body)
        token = jwt.decode(reply.body["id_token"], jwks, algorithms=[algorithm])
        assert token.header["alg"] == algorithm
        digest = hashlib.new(hash_name, reply.body["access_token"].encode()).digest()
        assert token.claims["at_hash"] == base64.urlsafe_b64encode(digest[:len(digest) // 2]).rstrip(b"=").decode()
    finally:
        service.stop()


def test_portal_login_gives_code_then_tokens_with_id_token(service, accounts):
    verifier, challenge = pkce()
    browser = Browser(service)
    query = login_and_get_code(browser, authorize_url(challenge=challenge, nonce="n-456"))
    assert query["state"] == ["st-123"]
    reply = exchange(service, query["code"][0], verifier)
    assert reply.status == 200, reply.body
    body = reply.body
    assert {"access_token", "refresh_token", "id_token"} <= set(body)
    assert body["scope"] == "openid profile vo:dteam group:dteam_user"
    jwks = KeySet.import_key_set(service.get("/jwks").body)
    id_token = jwt.decode(body["id_token"], jwks, algorithms=["RS256"]).claims
    assert id_token["aud"] == "example-portal" and id_token["nonce"] == "n-456"
    assert id_token["at_hash"] and id_token["auth_time"] <= id_token["iat"]
    assert id_token["sub"] == "alice" and id_token["iss"] == "http://localhost:8080"
    assert id_token["dirac_group"] == "dteam_user"
    info = service.get("/userinfo", headers={"Authorization": "Bearer " + body["access_token"]})
    assert info.status == 200 and info.body["sub"] == "alice" and info.body["vo"] == "dteam"
    # Tokens from the code flow follow the refresh semantics too.
    refreshed = service.refresh(body["refresh_token"])
    assert refreshed.status == 200 and "refresh_token" not in refreshed.body
    assert service.introspect(body["access_token"]) == {"active": False}


def test_group_choice_when_several_groups_and_none_asked(service, accounts):
    browser = Browser(service)
    status, page, _ = browser.follow(authorize_url())
    status, page, _ = browser.login(page, "alice", "alice-password")
    assert 'name="group"' in page and "dteam_admin" in page and "lhcb_user" in page
    status, page, location = browser.submit(page, browser.last_url, group="lhcb_user", choose="1")
    code = parse_qs(urlsplit(location).query)["code"][0]
    assert exchange(service, code).body["scope"] == "openid profile vo:lhcb group:lhcb_user"


def test_single_group_user_is_not_asked(service, accounts):
    query = login_and_get_code(Browser(service), authorize_url(), user="bob", password="bob-password-1", group=None)
    assert exchange(service, query["code"][0]).body["scope"].endswith("group:dteam_user")


def test_sso_second_login_asks_nothing_and_logout_ends_it(service, accounts):
    browser = Browser(service)
    login_and_get_code(browser, authorize_url(scope="openid g:dteam_user"))
    status, _, location = browser.follow(authorize_url(scope="openid g:dteam_admin"))
    assert status == 302 and "code" in parse_qs(urlsplit(location).query)  # no login page, no group page
    status, page, location = browser.follow("/logout?" + urlencode({"client_id": "example-portal",
                                                                     "post_logout_redirect_uri": "http://localhost:8081/",
                                                                     "state": "bye"}))
    assert 'name="logout"' in page
    status, page, location = browser.submit(page, "/logout", logout="1")
    assert location == "http://localhost:8081/?state=bye"
    status, page, _ = browser.follow(authorize_url())
    assert 'name="password"' in page


def test_session_cookie_flags(service, accounts):
    browser = Browser(service)
    _, page, _ = browser.follow(authorize_url())
    status, _, _ = browser.request("/login", {**browser.form_fields(page), "username": "bob",
                                              "password": "bob-password-1"})
    assert status == 302
    cookie = next(c for c in browser.jar if c.name == "gridauth_session")
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert cookie.get_nonstandard_attr("SameSite") == "Lax"
    assert not cookie.secure  # served over plain http on localhost


def test_wrong_password_shows_the_form_again(service, accounts):
    browser = Browser(service)
    _, page, _ = browser.follow(authorize_url())
    status, page, _ = browser.login(page, "alice", "nope-nope")
    assert status == 401 and "Wrong user name or password" in page


def test_login_form_needs_csrf_token(service, accounts):
    browser = Browser(service)
    status, page, _ = browser.request("/login", {"username": "alice", "password": "alice-password"})
    assert status == 403


def test_public_client_must_use_pkce_s256(service, accounts):
    browser = Browser(service)
    login_and_get_code(browser, authorize_url(scope="openid g:dteam_user", challenge=pkce()[1]))
    _, _, location = browser.follow(authorize_url("gridauth-cli", CLI_CB, "openid g:dteam_user"))
    assert parse_qs(urlsplit(location).query)["error"] == ["invalid_request"]
    _, _, location = browser.follow(authorize_url("gridauth-cli", CLI_CB, "openid g:dteam_user",
                                                  code_challenge="x" * 43, code_challenge_method="plain"))
    assert parse_qs(urlsplit(location).query)["error"] == ["invalid_request"]
    verifier, challenge = pkce()
    query = login_and_get_code(browser, authorize_url("gridauth-cli", CLI_CB, "openid g:dteam_user",
                                                      challenge=challenge))
    assert exchange(service, query["code"][0], None, ("gridauth-cli", None), CLI_CB).body["error"] == \
        "invalid_request"


def test_pkce_mismatch_is_invalid_grant(service, accounts):
    _, challenge = pkce()
    query = login_and_get_code(Browser(service), authorize_url(challenge=challenge))
    reply = exchange(service, query["code"][0], pkce()[0])
    assert (reply.status, reply.body["error"]) == (400, "invalid_grant")


def test_wrong_redirect_uri_is_not_redirected_to(service, accounts):
    status, page, location = Browser(service).follow(authorize_url(redirect_uri="http://localhost:8081/evil"))
    assert status == 400 and not location and "This sign-in link is not safe to follow" in page
    assert "has not registered here (http://localhost:8081/evil)" in page


def test_redirect_uri_mismatch_at_token_endpoint(service, accounts):
    query = login_and_get_code(Browser(service), authorize_url())
    reply = exchange(service, query["code"][0], redirect_uri="http://localhost:8081/other")
    assert reply.body["error"] == "invalid_grant"


def test_code_replay_revokes_the_tokens_issued_from_it(service, accounts):
    query = login_and_get_code(Browser(service), authorize_url())
    code = query["code"][0]
    first = exchange(service, code).body
    replay = exchange(service, code)
    assert (replay.status, replay.body["error"]) == (400, "invalid_grant")
    assert service.introspect(first["access_token"]) == {"active": False}
    assert service.refresh(first["refresh_token"]).body["error"] == "invalid_grant"


def test_code_expires_after_five_minutes(service, accounts):
    query = login_and_get_code(Browser(service), authorize_url())
    service.clock.advance(301)
    assert exchange(service, query["code"][0]).body["error"] == "invalid_grant"


def test_scope_naming_a_group_the_user_lacks_is_refused(service, accounts):
    browser = Browser(service)
    _, page, _ = browser.follow(authorize_url(scope="openid group:lhcb_user"))
    _, _, location = browser.login(page, "bob", "bob-password-1")
    assert parse_qs(urlsplit(location).query)["error"] == ["invalid_scope"]


@pytest.mark.parametrize("params", [{"client_id": "nobody"}, {"response_type": "token"}])
def test_bad_authorization_requests(service, params):
    url = authorize_url(**{k: v for k, v in params.items() if k == "client_id"} or {})
    if "response_type" in params:
        url = url.replace("response_type=code", "response_type=token")
    status, page, location = Browser(service).follow(url)
    if location:
        assert "error=" in location
    else:
        assert status == 400


def test_prompt_none_without_session_is_login_required(service):
    _, _, location = Browser(service).follow(authorize_url(prompt="none"))
    assert parse_qs(urlsplit(location).query)["error"] == ["login_required"]


def test_userinfo_needs_a_valid_token(service):
    reply = service.get("/userinfo", headers={"Authorization": "Bearer nope"})
    assert reply.status == 401 and reply.headers["WWW-Authenticate"].startswith("Bearer")


def test_reused_nonce_is_refused(service, accounts):
    browser = Browser(service)
    login_and_get_code(browser, authorize_url(nonce="same"))
    _, _, location = browser.follow(authorize_url(nonce="same"))
    assert parse_qs(urlsplit(location).query)["error"] == ["invalid_request"]


def test_loopback_redirect_uri_may_use_any_port(service, accounts):
    verifier, challenge = pkce()
    browser = Browser(service)
    redirect = "http://127.0.0.1:47113/callback"
    query = login_and_get_code(browser, authorize_url("gridauth-cli", redirect, "openid g:dteam_user",
                                                      challenge=challenge))
    reply = exchange(service, query["code"][0], verifier, ("gridauth-cli", None), redirect)
    assert reply.status == 200, reply.body
    _, page, location = browser.follow(authorize_url("gridauth-cli", "http://127.0.0.1:47113/other",
                                                     "openid g:dteam_user", challenge=challenge))
    assert not location and "This sign-in link is not safe to follow" in page


def test_vo_scope_takes_the_vo_default_group_and_the_choice_offers_the_default_first(service, accounts):
    browser = Browser(service)
    query = login_and_get_code(browser, authorize_url(scope="openid vo:dteam"), group=None)
    assert exchange(service, query["code"][0]).body["scope"] == "openid vo:dteam group:dteam_user"
    _, page, _ = browser.follow(authorize_url())
    offered = re.findall(r'name="group" value="([^"]+)"( checked)?', page)
    assert offered[0] == ("dteam_user", " checked")  # /Registry/DefaultGroup, preselected
    assert {g for g, _ in offered} == {"dteam_user", "dteam_admin", "lhcb_user"}


def test_access_token_is_not_an_id_token_hint(service, accounts):
    browser = Browser(service)
    query = login_and_get_code(browser, authorize_url())
    access = exchange(service, query["code"][0]).body["access_token"]
    _, page, _ = browser.follow("/logout?" + urlencode({"id_token_hint": access}))
    assert 'name="logout"' in page  # asked to confirm: the hint was refused


def test_post_to_an_api_path_is_not_a_csrf_error(service):
    assert service.post("/nope", {"a": "b"}).status == 404
    assert service.post("/jwks", {"a": "b"}).status == 405


def test_only_failed_logins_count_towards_the_limit(service, accounts):
    browser = Browser(service)
    for _ in range(12):  # more successful logins than the limit of failures
        _, page, _ = browser.follow("/login")
        status, _, _ = browser.request("/login", {**browser.form_fields(page), "username": "bob",
                                                  "password": "bob-password-1"})
        assert status == 302
    statuses = []
    for _ in range(11):
        _, page, _ = browser.follow("/login")
        statuses.append(browser.login(page, "bob", "wrong-password")[0])
    assert statuses[:10] == [401] * 10 and statuses[10] == 429


def test_csrf_cookie_follows_the_issuer_scheme(service):
    page = service.get("/login")
    assert "secure" not in page.headers["Set-Cookie"].lower()
    service.edit(lambda cfg: cfg.setOption("DIRAC/Security/Authorization/issuer", "https://auth.example.org"))
    page = service.get("/login")
    cookie = page.headers["Set-Cookie"].lower()
    assert "_xsrf=" in cookie and "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
