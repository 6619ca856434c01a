"""The password grant (RFC 6749 §4.3), on and off, over HTTP on a real server.

Off by default: no client lists it, discovery does not name it, and a request for it is
``unauthorized_client``. Turned on for the confidential example portal, it gives alice's tokens
for her local password, answers a wrong password and an unknown name alike, and spends the login
page's guess budget (a shared counter: wrong passwords on the page count against the grant).
"""

from __future__ import annotations

import pytest

from gridauth.config import ConfigInvalid, cfgfile, load_text
from gridauth.db.guessing import LOGIN_LIMIT
from gridauth.oauth.grants.password import TOO_MANY, WRONG_CREDENTIALS

from .conftest import EXAMPLE, PORTAL, Browser, Service
from .test_audit import audit_file, lines, only  # noqa: F401 - the fixture

GRANTS = "/DIRAC/Security/Authorization/Clients/example-portal/grant_types"


def password_request(service: Service, username: str, password: str, scope: str = "openid offline_access",
                     client: tuple[str, str] = PORTAL):
    return service.post("/token", {"grant_type": "password", "username": username, "password": password,
                                   "scope": scope}, auth=client)


def enable(service: Service) -> None:
    service.edit(lambda cfg: cfgfile.set_option(cfg, GRANTS, "authorization_code, refresh_token, password"))


def test_off_unless_a_client_lists_it(service, accounts):
    assert "password" not in service.get("/.well-known/openid-configuration").body["grant_types_supported"]
    refused = password_request(service, "alice", accounts["alice"])
    assert refused.status == 400 and refused.body == {"error": "unsupported_grant_type"}, refused.body


def test_alice_gets_tokens_for_her_local_password(service, accounts, audit_file):  # noqa: F811
    enable(service)
    assert "password" in service.get("/.well-known/openid-configuration").body["grant_types_supported"]
    reply = password_request(service, "alice", accounts["alice"], "openid offline_access group:lhcb_user")
    assert reply.status == 200, reply.body
    assert reply.body["scope"] == "openid offline_access vo:lhcb group:lhcb_user"
    claims = service.introspect(reply.body["access_token"])
    assert (claims["active"], claims["sub"], claims["dirac_group"], claims["client_id"]) == (
        True, "alice", "lhcb_user", PORTAL[0])
    refreshed = service.refresh(reply.body["refresh_token"])
    assert refreshed.status == 200, refreshed.body
    only(audit_file, "login", user="alice", kind="password_grant", address="127.0.0.1")
    assert any(line["event"] == "token_issued" and line.get("grant_type") == "password" for line in lines(audit_file))
    assert accounts["alice"] not in audit_file.read_text()


def test_wrong_password_and_unknown_user_answer_alike(service, accounts):
    enable(service)
    wrong = password_request(service, "alice", "not-her-password")
    unknown = password_request(service, "mallory", "whatever-password")
    for reply in (wrong, unknown):
        assert reply.status == 400 and reply.body == {"error": "invalid_grant",
                                                      "error_description": WRONG_CREDENTIALS}, reply.body
    assert password_request(service, "alice", accounts["alice"], client=(PORTAL[0], "wrong")).status == 401
    service_client = password_request(service, "alice", accounts["alice"], client=("example-service",
                                                                                   "service-secret"))
    assert service_client.status == 400 and service_client.body["error"] == "unauthorized_client"
    public = service.post("/token", {"grant_type": "password", "username": "alice", "password": accounts["alice"],
                                     "client_id": "gridauth-cli"})
    assert public.status in (400, 401) and public.body["error"] in ("unauthorized_client", "invalid_client")


def test_the_login_pages_guess_budget_holds_for_the_grant(service, accounts):
    """Wrong passwords typed on the login page and sent to the grant share one counter per user name."""
    enable(service)
    browser = Browser(service)
    _, page, _ = browser.follow("/login")
    for _ in range(LOGIN_LIMIT // 2):
        status, page, _ = browser.login(page, "alice", "wrong-on-the-page")
        assert status == 401
    for _ in range(LOGIN_LIMIT - LOGIN_LIMIT // 2):
        assert password_request(service, "alice", "wrong-at-the-grant").body["error_description"] == WRONG_CREDENTIALS
    locked = password_request(service, "alice", accounts["alice"])  # the right one, too late
    assert locked.status == 400 and locked.body == {"error": "invalid_grant", "error_description": TOO_MANY}
    assert password_request(service, "bob", accounts["bob"]).status == 200  # another name has its own budget
    service.clock.advance(301)
    assert password_request(service, "alice", accounts["alice"]).status == 200


def test_configuration_refuses_a_public_client_and_a_registry_without_local_accounts():
    text = EXAMPLE.read_text(encoding="utf-8")
    portal_grants = "grant_types = authorization_code, refresh_token\n          response_types = code\n" \
                    "          redirect_uris = http://localhost:8081/callback"
    assert text.count(portal_grants) == 1
    with_password = text.replace(portal_grants, portal_grants.replace("refresh_token", "refresh_token, password"))
    load_text(with_password)  # a confidential client with local accounts: fine
    without_local = with_password.replace("ProviderType = Local", "ProviderType = OIDC\n      issuer = "
                                          "https://idp.example.org\n      client_id = gridauth")
    with pytest.raises(ConfigInvalid) as caught:
        load_text(without_local)
    assert [str(i) for i in caught.value.issues] == [
        "/DIRAC/Security/Authorization/Clients/example-portal/grant_types: the password grant checks local accounts "
        "only: add an identity provider with ProviderType = Local (line 56)"]
