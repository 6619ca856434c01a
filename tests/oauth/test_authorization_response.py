"""Authorization responses: ``iss`` in every one (RFC 9207), and parameters the service does not support refused.

RFC 9207: the authorization server adds ``iss`` to every authorization response, success and error,
and says so in its metadata, so that a client talking to several issuers can tell which one answered
(mix-up attacks, RFC 9700 §4.4). ``request`` and ``request_uri`` (OpenID Connect Core §6) and a
``response_mode`` other than ``query`` are not supported: the client is told so, not ignored.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from .conftest import Browser
from .test_code_flow import PORTAL_CB, authorize_url, login_and_get_code, pkce

ISSUER = "http://localhost:8080"


def _redirect(browser: Browser, url: str) -> dict[str, list[str]]:
    status, page, location = browser.follow(url)
    assert status == 302 and location.startswith(PORTAL_CB), (status, page)
    return parse_qs(urlsplit(location).query)


def test_discovery_says_iss_is_in_authorization_responses(service):
    metadata = service.get("/.well-known/openid-configuration").body
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert metadata["response_modes_supported"] == ["query"]


def test_a_code_comes_with_the_issuer(service, accounts):
    _, challenge = pkce()
    query = login_and_get_code(Browser(service), authorize_url(challenge=challenge))
    assert query["iss"] == [ISSUER] and query["code"] and query["state"] == ["st-123"]


@pytest.mark.parametrize(("extra", "error"), [
    ({"scope": "openid admin"}, "invalid_scope"),                    # not among the client's scopes
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"prompt": "none"}, "login_required"),                          # no session
    ({"code_challenge_method": "plain", "code_challenge": "x" * 43}, "invalid_request"),
])
def test_every_error_sent_back_carries_the_issuer(service, extra, error):
    query = _redirect(Browser(service), authorize_url(**extra))
    assert query["error"] == [error] and query["iss"] == [ISSUER] and query["state"] == ["st-123"], query


def test_an_error_after_sign_in_carries_the_issuer(service, accounts):
    browser = Browser(service)
    _, challenge = pkce()
    login_and_get_code(browser, authorize_url(challenge=challenge))
    query = _redirect(browser, authorize_url(challenge=challenge, scope="openid g:no_such_group"))
    assert query["error"] == ["invalid_scope"] and query["iss"] == [ISSUER], query


@pytest.mark.parametrize(("extra", "error"), [
    ({"request": "eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9."}, "request_not_supported"),
    ({"request_uri": "https://portal.example.org/request.jwt"}, "request_uri_not_supported"),
    ({"request_uri": "urn:ietf:params:oauth:request_uri:abc"}, "request_uri_not_supported"),
    ({"response_mode": "fragment"}, "invalid_request"),
    ({"response_mode": "form_post"}, "invalid_request"),
    ({"response_mode": "jwt"}, "invalid_request"),
])
def test_unsupported_request_parameters_are_refused_not_ignored(service, extra, error):
    _, challenge = pkce()
    query = _redirect(Browser(service), authorize_url(challenge=challenge, **extra))
    assert query["error"] == [error] and "code" not in query and query["iss"] == [ISSUER], query


def test_response_mode_query_is_what_is_done_anyway(service, accounts):
    _, challenge = pkce()
    query = login_and_get_code(Browser(service), authorize_url(challenge=challenge, response_mode="query"))
    assert query["code"] and query["iss"] == [ISSUER]


def test_pages_cannot_be_framed_or_cached(service):
    """RFC 9700 §4.16: the authorization server's pages refuse to be framed (clickjacking)."""
    for path in ("/login", "/authorize", "/device", "/logout"):
        headers = service.get(path).headers
        assert headers["X-Frame-Options"] == "DENY", path
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
        assert headers["Cache-Control"] == "no-store", path
