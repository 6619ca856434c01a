"""The device flow (RFC 8628), over HTTP: the client polls while the person approves on the pages."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from .conftest import Browser
from .proofs import Holder, token_request_proof

CLI = "gridauth-cli"  # its DPoP is required: each poll sends a proof
GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def start(service, scope: str = "openid offline_access") -> dict:
    reply = service.post("/device_authorization", {"client_id": CLI, "scope": scope})
    assert reply.status == 200, reply.body
    assert reply.headers["Cache-Control"] == "no-store"
    return reply.body


def poll(service, device_code: str, holder: Holder | None = None):
    """One poll by the CLI client, with a proof by *holder* (None: by a new key)."""
    headers = {"DPoP": holder.proof()} if holder else token_request_proof(service)
    return service.post("/token", {"grant_type": GRANT, "device_code": device_code, "client_id": CLI},
                        headers=headers)


def approve(browser: Browser, flow: dict, user="alice", password="alice-password", group="dteam_user",
            button="approve") -> str:
    _, page, _ = browser.follow(flow["verification_uri_complete"].replace("http://localhost:8080",
                                                                          browser.service.url))
    if 'name="password"' in page:
        _, page, _ = browser.login(page, user, password)
    if 'name="group"' in page:
        _, page, _ = browser.submit(page, "/device", group=group, choose="1")
    assert 'name="approve"' in page and flow["user_code"] in page, page
    _, page, _ = browser.submit(page, "/device", **{button: "1"})
    return page


def test_device_authorization_response(service):
    flow = start(service)
    assert re.fullmatch(r"[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}", flow["user_code"])
    assert flow["verification_uri"] == "http://localhost:8080/device"
    assert flow["verification_uri_complete"] == f"http://localhost:8080/device?user_code={flow['user_code']}"
    assert flow["expires_in"] == 600 and flow["interval"] == 5
    assert len(flow["device_code"]) >= 40


def test_pending_then_approved_then_tokens_once(service, accounts):
    flow = start(service)
    assert poll(service, flow["device_code"]).body["error"] == "authorization_pending"
    page = approve(Browser(service), flow)
    assert "Device connected" in page and "dteam_user" in page
    service.clock.advance(5)
    holder = Holder(clock=service.clock)
    reply = poll(service, flow["device_code"], holder)
    assert reply.status == 200, reply.body
    assert {"access_token", "refresh_token"} <= set(reply.body)
    assert reply.body["scope"] == "openid offline_access vo:dteam group:dteam_user"
    assert reply.body["refresh_expires_in"] == 43200
    service.clock.advance(5)
    again = poll(service, flow["device_code"])
    assert again.body["error"] == "invalid_grant"  # a device code gives tokens once
    # the refresh semantics hold for device-flow tokens
    refreshed = service.refresh(reply.body["refresh_token"], client=(CLI, None), headers={"DPoP": holder.proof()})
    assert refreshed.status == 200 and "refresh_token" not in refreshed.body
    assert service.introspect(reply.body["access_token"]) == {"active": False}


def test_polling_too_fast_is_slow_down(service):
    flow = start(service)
    assert poll(service, flow["device_code"]).body["error"] == "authorization_pending"
    assert poll(service, flow["device_code"]).body["error"] == "slow_down"
    service.clock.advance(6)  # the interval grew to 10 s after slow_down (RFC 8628 §3.5)...
    assert poll(service, flow["device_code"]).body["error"] == "slow_down"
    service.clock.advance(16)  # ...and to 15 s after the second one
    assert poll(service, flow["device_code"]).body["error"] == "authorization_pending"


def test_denied_is_access_denied(service, accounts):
    flow = start(service)
    page = approve(Browser(service), flow, button="deny")
    assert "Request denied" in page
    service.clock.advance(6)
    assert poll(service, flow["device_code"]).body["error"] == "access_denied"


def test_expired_device_code(service):
    flow = start(service)
    service.clock.advance(601)
    assert poll(service, flow["device_code"]).body["error"] == "expired_token"


def test_user_code_is_single_use(service, accounts):
    flow = start(service)
    browser = Browser(service)
    approve(browser, flow)
    _, page, _ = browser.follow(f"/device?user_code={flow['user_code']}")
    assert "We found no waiting request with this code" in page


def test_user_code_is_typed_loosely(service, accounts):
    flow = start(service)
    browser = Browser(service)
    _, page, _ = browser.follow("/device")
    assert 'name="user_code"' in page
    loose = flow["user_code"].lower().replace("-", " ")
    _, page, _ = browser.follow("/device?" + urlencode({"user_code": loose}))
    assert 'name="password"' in page


def test_wrong_codes_are_rate_limited(service):
    browser = Browser(service)
    statuses = [browser.follow("/device?user_code=BBBB-BBBB")[0] for _ in range(12)]
    assert statuses[:10] == [400] * 10 and statuses[-1] == 429


def test_group_in_scope_skips_the_choice(service, accounts):
    flow = start(service, "openid group:lhcb_user")
    browser = Browser(service)
    _, page, _ = browser.follow(f"/device?user_code={flow['user_code']}")
    _, page, _ = browser.login(page, "alice", "alice-password")
    assert 'name="group"' not in page.replace('type="hidden" name="group"', "") and "lhcb_user" in page


def test_unknown_device_code_and_missing_parameter(service):
    assert poll(service, "nope").body["error"] == "invalid_grant"
    reply = service.post("/token", {"grant_type": GRANT, "client_id": CLI})
    assert reply.body["error"] == "invalid_request"


def test_client_without_device_grant_is_refused(service):
    reply = service.post("/device_authorization", {"client_id": "example-portal"}, auth=("example-portal",
                                                                                       "portal-secret"))
    assert reply.body["error"] == "unauthorized_client"


def test_public_client_may_name_itself_with_basic_and_an_empty_secret(service):
    """oidc-agent sends a public client's id as HTTP Basic with an empty password (and no DPoP proof)."""
    reply = service.post("/device_authorization", {"scope": "openid"}, auth=("oidc-agent", ""))
    assert reply.status == 200, reply.body
    poll_reply = service.post("/token", {"grant_type": GRANT, "device_code": reply.body["device_code"]},
                              auth=("oidc-agent", ""))
    assert poll_reply.body["error"] == "authorization_pending"
    wrong = service.post("/token", {"grant_type": GRANT, "device_code": reply.body["device_code"]},
                         auth=("example-portal", ""))
    assert wrong.body["error"] in ("invalid_client", "unauthorized_client")


def test_forged_forwarded_address_does_not_escape_the_rate_limit(service):
    """Without --behind-proxy, X-Real-Ip / X-Forwarded-For are not trusted."""
    statuses = [service.get("/device?user_code=BBBB-BBBB", headers={"X-Real-Ip": f"10.0.0.{i}",
                                                                   "X-Forwarded-For": f"10.0.1.{i}"}).status
                for i in range(12)]
    assert statuses[-1] == 429


def test_unknown_group_or_vo_is_refused_at_once(service):
    for scope in ("openid group:nope", "openid vo:nope"):
        reply = service.post("/device_authorization", {"client_id": CLI, "scope": scope})
        assert (reply.status, reply.body["error"]) == (400, "invalid_scope"), scope
