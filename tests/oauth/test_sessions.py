"""Sessions and incident control on a real server and database: listing and revoking by selector, suspension.

The grants come from :func:`issue_grant` (the login grants' storage API) and real refreshes over
HTTP; the SSO sessions from real sign-ins on the pages. Listing and revoking go through the API the
CLI and the admin API use (``oauth/sessions.py``); what the tokens do afterwards is asked of the
server over HTTP: refresh, introspection and ``/userinfo``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import pytest

from gridauth.admin import edits
from gridauth.db.sessions import Selector
from gridauth.errors import ConfigInvalid, EditError
from gridauth.oauth.sessions import list_sessions, parse_time, revoke_sessions

from .conftest import Browser, issue_grant
from .test_code_flow import PORTAL_CB, authorize_url, exchange, login_and_get_code
from .test_device_flow import poll, start

LATER = 100  # seconds between the first two grants (and alice's sign-in) and the last two


@dataclass
class Grants:
    """Four grants of three users, two clients, two VOs and three identity providers, and alice's SSO session."""

    tokens: dict[str, str]  # name: refresh token
    ids: dict[str, str]  # name: grant id
    access: dict[str, str]  # name: a current access token
    browser: Browser
    first: int  # when the first two were issued


def _grant_id(service: Any, refresh_token: str) -> str:
    return service.context.tokens.grant_by_refresh_token(refresh_token).id


@pytest.fixture
def grants(service: Any, accounts: dict[str, str]) -> Grants:
    first = service.clock.now()
    browser = Browser(service)
    login_and_get_code(browser, authorize_url(), group="dteam_user")  # alice's SSO session (and a code, unused)
    tokens = {"alice_portal": issue_grant(service),
              "bob_cli": issue_grant(service, "bob", client_id="oidc-agent")}
    service.clock.advance(LATER)
    tokens["carol_portal"] = issue_grant(service, "carol", scope="openid group:lhcb_user", idp="CheckIn")
    tokens["alice_cli"] = issue_grant(service, "alice", scope="openid group:lhcb_user", client_id="oidc-agent",
                                      idp="EGI")
    access = {}
    for name, token in tokens.items():
        client = ("oidc-agent", None) if name.endswith("_cli") else None
        reply = service.refresh(token, client=client) if client else service.refresh(token)
        assert reply.status == 200, reply.body
        access[name] = reply.body["access_token"]
    return Grants(tokens, {name: _grant_id(service, t) for name, t in tokens.items()}, access, browser, first)


def _listed(service: Any, **selector: Any) -> list[Any]:
    return list_sessions(service.context.sessions, Selector(**selector), service.clock.now())


def _names(grants: Grants, rows: list[Any]) -> set[str]:
    by_id = {grant_id: name for name, grant_id in grants.ids.items()}
    return {by_id[row.id] if row.kind == "grant" else f"sso:{row.user}" for row in rows}


@pytest.mark.parametrize(("selector", "expected"), [
    ({}, {"alice_portal", "bob_cli", "carol_portal", "alice_cli", "sso:alice"}),
    ({"user": "alice"}, {"alice_portal", "alice_cli", "sso:alice"}),
    ({"client": "oidc-agent"}, {"bob_cli", "alice_cli"}),
    ({"vo": "lhcb"}, {"carol_portal", "alice_cli"}),
    ({"group": "dteam_user"}, {"alice_portal", "bob_cli"}),
    ({"idp": "local"}, {"alice_portal", "bob_cli", "sso:alice"}),
    ({"idp": "EGI"}, {"alice_cli"}),
    ({"user": "alice", "client": "example-portal"}, {"alice_portal"}),
    ({"user": "nobody"}, set()),
])
def test_sessions_are_listed_by_each_selector(service: Any, grants: Grants, selector: dict[str, str],
                                              expected: set[str]) -> None:
    assert _names(grants, _listed(service, **selector)) == expected


def test_a_listed_session_shows_issue_expiry_last_use_client_and_address(service: Any, grants: Grants) -> None:
    by_id = {row.id: row for row in _listed(service, user="alice")}
    portal = by_id[grants.ids["alice_portal"]]
    assert (portal.kind, portal.user, portal.client, portal.vo, portal.group, portal.idp) == (
        "grant", "alice", "example-portal", "dteam", "dteam_user", "local")
    assert grants.first <= portal.issued_at < grants.first + LATER  # the clock runs (and jumps when advanced)
    assert portal.expires_at == portal.issued_at + 12 * 3600
    assert portal.last_used_at >= portal.issued_at + LATER  # its refresh, after the clock moved
    assert portal.address == "127.0.0.1"  # the refresh's client
    (sso,) = [row for row in by_id.values() if row.kind == "sso"]
    assert (sso.user, sso.client, sso.vo, sso.group, sso.idp, sso.address) == (
        "alice", None, None, None, "local", "127.0.0.1")
    assert grants.first <= sso.issued_at <= portal.issued_at and sso.last_used_at == sso.issued_at
    assert sso.expires_at == sso.issued_at + 8 * 3600 and len(sso.id) == 16

    service.clock.advance(LATER)
    assert service.refresh(grants.tokens["alice_portal"]).status == 200
    again = {row.id: row for row in _listed(service, user="alice")}[grants.ids["alice_portal"]]
    assert again.last_used_at >= portal.last_used_at + LATER


REVOCATIONS = {  # selector: (what it ends, how many sessions)
    "grant": (lambda g: {"grant": g.ids["carol_portal"]}, {"carol_portal"}, 1),
    "user": (lambda g: {"user": "alice"}, {"alice_portal", "alice_cli"}, 3),  # and her SSO session
    "client": (lambda g: {"client": "oidc-agent"}, {"bob_cli", "alice_cli"}, 2),
    "vo": (lambda g: {"vo": "lhcb"}, {"carol_portal", "alice_cli"}, 2),
    "idp": (lambda g: {"idp": "local"}, {"alice_portal", "bob_cli"}, 3),  # and the local sign-in
    "issued_before": (lambda g: {"issued_before": g.first + LATER // 2}, {"alice_portal", "bob_cli"}, 3),
}


@pytest.mark.parametrize("case", REVOCATIONS)
def test_revocation_by_each_selector_ends_the_refresh_and_access_tokens(service: Any, grants: Grants,
                                                                         case: str) -> None:
    selector, ended, count = REVOCATIONS[case]
    assert revoke_sessions(service.context.sessions, Selector(**selector(grants)), service.clock.now(),
                           "incident-admin") == count
    for name, token in grants.tokens.items():
        if name in ended:
            client = ("oidc-agent", None) if name.endswith("_cli") else None
            reply = service.refresh(token, client=client) if client else service.refresh(token)
            assert (reply.status, reply.body["error"]) == (400, "invalid_grant"), name
            assert service.introspect(grants.access[name]) == {"active": False}, name
            assert service.introspect(token) == {"active": False}, name
            userinfo = service.get("/userinfo", bearer=grants.access[name])
            assert userinfo.status == 401 and userinfo.body["error"] == "invalid_token", name
        else:
            assert service.introspect(grants.access[name])["active"] is True, name
            assert service.get("/userinfo", bearer=grants.access[name]).status == 200, name
    still = _names(grants, _listed(service))
    assert not still & ended
    sso_ended = count > len(ended)
    assert ("sso:alice" in still) is not sso_ended
    # Revoking again finds nothing live.
    assert revoke_sessions(service.context.sessions, Selector(**selector(grants)), service.clock.now(), "x") == 0


def test_an_ended_sso_session_makes_the_browser_sign_in_again_and_the_revocation_is_audited(
        service: Any, grants: Grants, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="gridauth.audit"):
        assert revoke_sessions(service.context.sessions, Selector(user="alice"), service.clock.now(),
                               "incident-admin") == 3
    (line,) = [json.loads(r.getMessage()) for r in caplog.records if "sessions_revoked" in r.getMessage()]
    assert {k: v for k, v in line.items() if k != "time"} == {
        "event": "sessions_revoked", "outcome": "success", "user": "alice", "author": "incident-admin", "count": 3,
        "kind": "user=alice", "reason": "2 grant(s) and 1 SSO session(s) ended"}
    _, page, _ = grants.browser.follow(authorize_url())
    assert 'name="password"' in page


def test_revocation_runs_in_batches_across_their_boundaries(service: Any) -> None:
    tokens = [issue_grant(service, "bob") for _ in range(7)]
    other = issue_grant(service, "alice")
    assert service.context.sessions.revoke(Selector(user="bob"), service.clock.now(), batch=3) == (7, 0)
    assert all(service.refresh(token).body["error"] == "invalid_grant" for token in tokens)
    assert service.refresh(other).status == 200


@pytest.mark.parametrize("selector", [Selector(), Selector(user=""), Selector(client="x" * 256),
                                      Selector(issued_before=-1)])
def test_a_revocation_naming_nothing_or_a_bad_value_is_refused(service: Any, selector: Selector) -> None:
    token = issue_grant(service)
    with pytest.raises(EditError):
        revoke_sessions(service.context.sessions, selector, service.clock.now(), "admin")
    assert service.refresh(token).status == 200


def test_times_are_iso_8601_in_utc_unless_an_offset_is_given() -> None:
    assert parse_time("2026-12-02T15:00:00Z") == parse_time("2026-12-02 16:00:00+01:00") == 1796223600
    assert parse_time("2026-12-02T15:00:00") == 1796223600
    with pytest.raises(EditError, match="not an ISO 8601 time"):
        parse_time("yesterday")


# -- suspension ------------------------------------------------------------------------------------
def _suspend(service: Any, suspended: bool, user: str = "alice") -> None:
    service.edit(lambda cfg: edits.user_suspend(cfg, user, suspended))


def test_suspension_refuses_refresh_introspection_and_userinfo_and_lifting_it_restores_the_same_grant(
        service: Any) -> None:
    token = issue_grant(service)
    bob = issue_grant(service, "bob")
    grant_id = _grant_id(service, token)
    access = service.refresh(token).body["access_token"]
    _suspend(service, True)
    assert service.context.registry.user("alice").suspended

    refused = service.refresh(token)
    assert (refused.status, refused.body["error"]) == (400, "invalid_grant")
    assert refused.body["error_description"] == "user 'alice' is suspended"
    assert service.introspect(access) == {"active": False}
    assert service.introspect(token) == {"active": False}
    assert service.get("/userinfo", bearer=access).status == 401
    assert service.refresh(bob).status == 200  # only alice is suspended

    _suspend(service, False)
    assert service.introspect(access)["active"] is True  # the same grant, at the same generation
    assert service.get("/userinfo", bearer=access).status == 200

    _suspend(service, True)
    service.clock.advance(2 * 3600)  # past the removal grace period: a suspension still revokes nothing
    assert service.refresh(token).body["error"] == "invalid_grant"
    _suspend(service, False)
    assert service.introspect(token)["active"] is True
    grant = service.context.tokens.grant(grant_id)
    assert grant.revoked_at is None and grant.generation == 1
    again = service.refresh(token)
    assert again.status == 200, again.body
    assert service.context.tokens.grant(grant_id).generation == 2


def test_suspension_refuses_sign_ins_and_the_sso_session_and_lifting_it_lets_them_in(service: Any,
                                                                                     accounts: dict[str, str]) -> None:
    browser = Browser(service)
    login_and_get_code(browser, authorize_url(), group="dteam_user")  # an SSO session from before
    _suspend(service, True)
    status, page, _ = browser.follow(authorize_url())  # the existing session gives nothing
    assert status == 403 and "Your account is suspended" in page
    fresh = Browser(service)
    _, page, _ = fresh.follow(authorize_url())
    status, page, _ = fresh.login(page, "alice", accounts["alice"])  # the right password: told, not let in
    assert status == 403 and "Your account is suspended" in page
    guesser = Browser(service)
    _, page, _ = guesser.follow("/login")
    status, page, _ = guesser.login(page, "alice", "wrong-password")
    assert status == 401 and "suspended" not in page  # a wrong password learns nothing

    _suspend(service, False)
    assert "code" in login_and_get_code(browser, authorize_url(), group="dteam_user")  # the same SSO session
    assert "code" in login_and_get_code(fresh, authorize_url(), group="dteam_user")


def test_suspension_refuses_a_code_exchange_and_the_device_flow(service: Any, accounts: dict[str, str]) -> None:
    browser = Browser(service)
    code = login_and_get_code(browser, authorize_url(), group="dteam_user")["code"][0]
    flow = start(service)
    _suspend(service, True)
    reply = exchange(service, code, redirect_uri=PORTAL_CB)
    assert (reply.status, reply.body["error"]) == (400, "invalid_grant")
    status, page, _ = browser.follow(flow["verification_uri_complete"].replace("http://localhost:8080",
                                                                             service.url))
    assert status == 403 and "Your account is suspended" in page
    assert poll(service, flow["device_code"]).body["error"] == "authorization_pending"


def test_suspended_must_be_yes_or_no(service: Any) -> None:
    with pytest.raises(ConfigInvalid) as refused:
        service.edit(lambda cfg: cfg.setOption("Registry/Users/alice/Suspended", "maybe"))
    assert [str(issue) for issue in refused.value.issues] == [
        "/Registry/Users/alice/Suspended: expected yes or no, found 'maybe'"]
