"""RP-initiated logout: only an ID token of the person signed in, issued to the client named, ends a session at once.

Anything else asks the person first, with a CSRF-protected form: a link or an image on another site
cannot sign anyone out (no CSRF logout). A hint issued to another client than the ``client_id``
given is refused (OpenID Connect RP-Initiated Logout 1.0 §2).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

from .conftest import PORTAL, Browser
from .test_code_flow import authorize_url, exchange, login_and_get_code

PORTAL_HOME = "http://localhost:8081/"


def _signed_in(user: str, service) -> tuple[Browser, str]:
    """A browser where *user* signed in through the portal, and the ID token the portal got."""
    browser = Browser(service)
    query = login_and_get_code(browser, authorize_url(), user=user, password={"alice": "alice-password",
                                                                               "bob": "bob-password-1"}[user])
    reply = exchange(service, query["code"][0], client=PORTAL)
    assert reply.status == 200, reply.body
    return browser, reply.body["id_token"]


def _still_signed_in(browser: Browser) -> bool:
    _, _, location = browser.follow(authorize_url(prompt="none", scope="openid g:dteam_user"))
    return "code" in parse_qs(urlsplit(location).query)


def _logout(browser: Browser, **params: str) -> tuple[int, str, str]:
    return browser.follow("/logout?" + urlencode(params))


def test_the_persons_own_id_token_for_the_client_named_ends_the_session_at_once(service, accounts):
    browser, id_token = _signed_in("alice", service)
    status, _, location = _logout(browser, id_token_hint=id_token, client_id="example-portal",
                                  post_logout_redirect_uri=PORTAL_HOME, state="bye")
    assert status == 302 and location == PORTAL_HOME + "?state=bye"
    assert not _still_signed_in(browser)


def test_a_hint_issued_to_another_client_is_refused(service, accounts):
    browser, id_token = _signed_in("alice", service)
    status, page, location = _logout(browser, id_token_hint=id_token, client_id="gridauth-cli",
                                     post_logout_redirect_uri=PORTAL_HOME)
    assert status == 400 and not location, (status, location)
    assert "This sign-out link is not valid" in page and 'name="logout"' not in page
    assert _still_signed_in(browser)


def test_another_persons_id_token_does_not_sign_this_browser_out(service, accounts):
    _, bobs = _signed_in("bob", service)
    browser, _ = _signed_in("alice", service)
    status, page, location = _logout(browser, id_token_hint=bobs, client_id="example-portal",
                                     post_logout_redirect_uri=PORTAL_HOME, state="s")
    assert status == 200 and 'name="logout"' in page and not location  # asked, not done
    assert _still_signed_in(browser)
    status, _, location = browser.submit(page, "/logout", logout="1")  # the person confirms
    assert location == PORTAL_HOME + "?state=s"
    assert not _still_signed_in(browser)


def test_without_a_hint_a_link_asks_and_only_the_form_with_its_csrf_token_signs_out(service, accounts):
    browser, _ = _signed_in("alice", service)
    status, page, _ = _logout(browser, client_id="example-portal")
    assert status == 200 and 'name="logout"' in page and 'name="_xsrf"' in page
    fields = {k: v for k, v in browser.form_fields(page).items() if k != "_xsrf"}
    status, _, _ = browser.request("/logout", {**fields, "logout": "1"})  # a cross-site form has no token
    assert status == 403
    assert _still_signed_in(browser)
    browser.submit(page, "/logout", logout="1")
    assert not _still_signed_in(browser)
