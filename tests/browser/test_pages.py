"""Every page a person may meet, photographed and read: home, sign-in, device, and each error page.

The error pages must speak to the reader in our own words (what went wrong, what to do), never in
the library's ("response_type=The response type 'None' is not supported by the server...").
Screenshots land in ``test-artifacts/screenshots/<test>/``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest

from gridauth.config.cfgfile import set_option

from .conftest import Person, PersonFactory, Stack, StackFactory, choose_group, login_at_gridauth, own
from .test_device_flow import start_device_flow

LIBRARY_WORDS = ("is not supported", "response_type=", "None", "the user may not act", "Traceback")


def visit(who: Person, url: str, step: str) -> int:
    """Open *url* as typed in the address bar; photograph it; its HTTP status."""
    response = who.page.goto(url)
    who.snap(step)
    assert response is not None
    return int(response.status)


def assert_our_words(who: Person) -> None:
    """The page's main text is ours: none of the library's phrases (the small details line aside)."""
    main = who.text("main")
    details = who.text(".details") if who.page.locator(".details").count() else ""
    for words in LIBRARY_WORDS:
        assert words not in main.replace(details, ""), (words, main)


def test_home_sign_in_without_next_and_sign_out(stack: Stack, person: PersonFactory) -> None:
    """``/`` names the service and its issuer; a sign-in from it comes back to it, signed in."""
    who = person(*own(stack))
    url = stack.gridauth.url
    assert visit(who, url + "/", "home-signed-out") == 200
    assert who.heading() == "gridauth"
    assert url in who.text() and "You are not signed in" in who.text("#signed-in")
    assert f"gridauth login --issuer {url}" in who.text()
    links = {who.page.get_attribute(f"main a >> nth={i}", "href") for i in range(who.page.locator("main a").count())}
    assert {"/.well-known/openid-configuration", "/jwks", "/device", "/login"} <= links
    assert "docs/user-guide.md" in who.text()

    who.click("#signed-in a", "login-page", then=url + "/login")
    assert who.heading() == "Sign in"
    login_at_gridauth(who, "alice", "wrong-password", "login-error")
    assert who.text("[role=alert]") == "Wrong user name or password. Check both and try again."
    login_at_gridauth(who, "alice", "alice-password", "home-signed-in")
    assert who.url == url + "/", who.url  # not a JSON 404
    assert "You are signed in as alice" in who.text("#signed-in")

    who.click("#signed-in a", "logout-confirmation", then=url + "/logout")
    assert who.heading() == "Sign out?"
    who.click("button[name=logout]", "signed-out")
    assert who.heading() == "Signed out"
    assert "You are signed out of gridauth in this browser." in who.text()
    who.click("main a[href='/']", "home-after-sign-out", then=url + "/")
    assert "You are not signed in" in who.text("#signed-in")


def test_unknown_page_is_a_page_for_people_and_json_for_programs(stack: Stack, person: PersonFactory) -> None:
    who = person(*own(stack))
    assert visit(who, stack.gridauth.url + "/no/such/page", "page-not-found") == 404
    assert who.heading() == "Page not found"
    assert "There is no page at /no/such/page on this service." in who.text()
    reply = stack.gridauth.get("/no/such/page")  # a program: no Accept: text/html
    assert reply.status == 404 and reply.body["error"] == "not_found"
    assert "Content-Security-Policy" not in reply.headers  # the headers of any JSON answer, not a page's


AUTHORIZE_ERRORS = {
    "no-parameters": ("", "This sign-in link is incomplete", "did not say who it is"),
    "unknown-application": ("client_id=nobody&response_type=code", "Unknown application",
                            "The application that sent you here (nobody) is not registered with this service."),
    "unregistered-redirect": ("client_id=example-portal&response_type=code&redirect_uri=http%3A%2F%2Fevil.example%2Fcb",
                              "This sign-in link is not safe to follow",
                              "an address it has not registered here (http://evil.example/cb)"),
    "no-redirect-known": ("client_id=example-service&response_type=code", "This sign-in link is incomplete",
                          "did not say where to send you back"),
    "damaged": ("client_id=example-portal&client_id=other", "This sign-in link is damaged",
                "changed or cut short on the way"),
}


@pytest.mark.parametrize("case", list(AUTHORIZE_ERRORS))
def test_authorize_errors_that_cannot_go_back_are_explained(stack: Stack, person: PersonFactory, case: str) -> None:
    query, heading, phrase = AUTHORIZE_ERRORS[case]
    who = person(*own(stack))
    assert visit(who, f"{stack.gridauth.url}/authorize?{query}", f"authorize-{case}") == 400
    assert who.heading() == heading
    assert phrase in who.text()
    assert "Go back to the application that sent you here and start again." in who.text()
    assert_our_words(who)


def test_device_pages_code_entry_wrong_code_choice_and_consent(stack: Stack, person: PersonFactory) -> None:
    """The code form, a wrong code, sign-in, the group choice, the consent page whose Approve stands out."""
    url = stack.gridauth.url
    flow = start_device_flow(stack)
    who = person(*own(stack))
    assert visit(who, url + "/device", "device-code-entry") == 200
    assert who.heading() == "Connect a device"
    who.fill(user_code="WRONG-CODE")
    who.click("button[type=submit]", "device-wrong-code")
    assert who.text("[role=alert]").startswith("We found no waiting request with this code.")
    who.fill(user_code=flow["user_code"])
    who.click("button[type=submit]", "login-for-device")
    login_at_gridauth(who, "alice", "alice-password", "device-group-choice")
    assert who.heading() == "Choose a group"
    choose_group(who, "dteam_admin", "device-consent")
    assert who.heading() == "Authorize a device"
    approve, deny = who.page.locator("button[name=approve]"), who.page.locator("button[name=deny]")
    style = "e => [getComputedStyle(e).backgroundColor, getComputedStyle(e).color]"
    assert approve.evaluate(style) != deny.evaluate(style)  # the primary action stands out
    assert "primary" in (approve.get_attribute("class") or "") and "primary" not in (deny.get_attribute("class") or "")
    who.click("button[name=approve]", "device-connected")
    assert who.heading() == "Device connected"
    assert "You can close this window and go back to your device." in who.text()
    visit(who, flow["verification_uri_complete"], "device-code-used")
    assert who.text("[role=alert]").startswith("We found no waiting request with this code.")


@pytest.mark.parametrize(("user", "scope", "phrase"), [
    ("alice", "openid g:lhcb_user vo:dteam", "asks for the group lhcb_user in the VO dteam, but lhcb_user belongs "
                                             "to another VO"),
    ("bob", "openid g:dteam_admin", "asks to act in the group dteam_admin, and you (bob) may not act in it"),
], ids=["group-of-another-vo", "not-a-member"])
def test_device_refusal_says_why_in_words(stack: Stack, person: PersonFactory, user: str, scope: str,
                                          phrase: str) -> None:
    flow = start_device_flow(stack, scope)
    who = person(*own(stack))
    visit(who, flow["verification_uri_complete"], "login-for-device")
    login_at_gridauth(who, user, {"alice": "alice-password", "bob": "bob-password-1"}[user], "device-refused")
    assert who.heading() == "You cannot approve this request"
    assert f"gridauth-cli {phrase}" in who.text()
    assert_our_words(who)


def test_expired_form_and_foreign_sign_in_answer(stack: Stack, person: PersonFactory) -> None:
    """A form sent without its CSRF cookie, and a provider's answer that did not start in this browser."""
    who = person(*own(stack))
    visit(who, stack.gridauth.url + "/login", "login-page")
    who.page.context.clear_cookies()
    login_at_gridauth(who, "alice", "alice-password", "form-expired")
    assert who.heading() == "This form has expired"
    assert "Go back, reload the page and try again." in who.text()
    status = visit(who, stack.gridauth.url + "/login/callback?" + urlencode({"state": "x", "code": "y"}),
                   "sign-in-not-started-here")
    assert status == 400 and who.heading() == "This sign-in cannot be finished here"
    assert "sign in again, in this browser" in who.text()


def test_unreachable_identity_provider(new_stack: StackFactory, person: PersonFactory) -> None:
    """The sign-in page offers the provider; choosing it while it is down explains, with the reason as details."""
    def edit(cfg: Any) -> None:
        where = "Resources/IdProviders/Down"
        for option, value in (("ProviderType", "OIDC"), ("issuer", "http://127.0.0.1:9"), ("client_id", "gridauth")):
            set_option(cfg, f"{where}/{option}", value)

    stack = new_stack().start(edit)
    who = person(*own(stack))
    visit(who, stack.gridauth.url + "/login", "login-with-providers")
    who.page.check("input[name=idp][value=Down]")
    who.click("fieldset button[type=submit]", "provider-unreachable")
    assert who.heading() == "Cannot reach Down"
    assert "Down, where you sign in, does not answer right now" in who.text()
    assert who.text(".details").startswith("Details: ")
