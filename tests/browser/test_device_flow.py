"""The device flow (RFC 8628) with a person in a real browser while a client polls the token endpoint."""

from __future__ import annotations

from typing import Any

from harness import http

from .conftest import Person, PersonFactory, Poller, Stack, choose_group, login_at_gridauth, own

CLI = "gridauth-cli"


def start_device_flow(stack: Stack, scope: str = "openid offline_access") -> dict[str, Any]:
    """What a command-line client does first: ``POST /device_authorization``."""
    reply = stack.gridauth.post("/device_authorization", {"client_id": CLI, "scope": scope})
    assert reply.status == 200, reply.body
    flow = reply.body
    assert flow["verification_uri"] == stack.gridauth.url + "/device"
    assert flow["verification_uri_complete"] == f"{stack.gridauth.url}/device?user_code={flow['user_code']}"
    return flow


def sign_in_and_choose(who: Person, flow: dict[str, Any], group: str) -> None:
    """From gridauth's login page (already shown) to the approve/deny page."""
    login_at_gridauth(who, "alice", "alice-password", "group-choice")
    assert who.heading() == "Choose a group"
    assert "gridauth-cli" in who.text()
    choose_group(who, group, "approve-or-deny")
    assert who.heading() == "Authorize a device"
    shown = who.text("dl")
    assert flow["user_code"] in shown and group in shown and "alice" in shown
    assert "offline_access" in shown


def test_device_flow_approved_in_the_browser(stack: Stack, person: PersonFactory) -> None:
    """(d) The person opens verification_uri_complete, logs in, chooses a group, approves; the poller gets tokens."""
    flow = start_device_flow(stack)
    poller = Poller(stack.gridauth, flow["device_code"], flow["interval"]).start()
    try:
        who = person(*own(stack))
        who.open(flow["verification_uri_complete"], "gridauth-login-page")
        assert who.heading() == "Sign in"
        sign_in_and_choose(who, flow, "lhcb_user")
        assert poller.result is None  # still pending: nothing approved yet
        who.click("button[name=approve]", "device-connected")
        assert who.heading() == "Device connected"
        assert "lhcb_user" in who.text() and "lhcb" in who.text()
        reply = poller.wait()
    finally:
        poller.stop()
    assert reply.status == 200, reply.body
    assert {"access_token", "refresh_token"} <= set(reply.body)
    assert reply.body["scope"] == "openid offline_access vo:lhcb group:lhcb_user"
    assert any((a.body or {}).get("error") == "authorization_pending" for a in poller.answers)
    assert not any((a.body or {}).get("error") == "slow_down" for a in poller.answers)
    info = http(stack.gridauth.url + "/userinfo", bearer=reply.body["access_token"])
    assert info.status == 200 and info.body["sub"] == "alice" and info.body["dirac_group"] == "lhcb_user"

    # The code served once: opening the page again says so.
    who.open(flow["verification_uri_complete"], "code-used")
    assert who.text("[role=alert]").startswith("We found no waiting request with this code.")


def test_device_flow_denied_in_the_browser(stack: Stack, person: PersonFactory) -> None:
    """(e) The person types the code on the verification page, then denies: the poller gets access_denied."""
    flow = start_device_flow(stack)
    poller = Poller(stack.gridauth, flow["device_code"], flow["interval"]).start()
    try:
        who = person(*own(stack))
        who.open(flow["verification_uri"], "enter-code")
        assert who.heading() == "Connect a device"
        who.fill(user_code=flow["user_code"].lower().replace("-", " "))  # typed loosely
        who.click("button[type=submit]", "gridauth-login-page")
        assert who.heading() == "Sign in"
        sign_in_and_choose(who, flow, "dteam_user")
        who.click("button[name=deny]", "request-denied")
        assert who.heading() == "Request denied"
        reply = poller.wait()
    finally:
        poller.stop()
    assert reply.status == 400 and reply.body["error"] == "access_denied", reply.body
    assert stack.gridauth.issued()["grants"] == 0
