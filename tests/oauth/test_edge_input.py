"""A client's bytes never give a 500: each finding of the fuzzing run, as a request, answered in the protocol.

Protocol endpoints answer RFC 6749 error JSON, pages an HTML error page; the log holds no traceback.
"""

from __future__ import annotations

import base64
import http.client
import logging
import time
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from .conftest import PORTAL, Browser
from .test_code_flow import PORTAL_CB, authorize_url, exchange, login_and_get_code, pkce

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
ENDPOINTS = ["/token", "/revoke", "/introspect", "/device_authorization"]
AWKWARD_NAMES = ['a"b', "a\\b", "a\x00b", "é", "\u2028", "x'y\"z"]


def raw(service, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None):
    """One request with exactly these bytes: (status, content type, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=30)
    try:
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


@pytest.fixture
def no_traceback(caplog):
    caplog.set_level(logging.INFO)
    yield caplog
    crashed = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not crashed, [r.getMessage() for r in crashed]


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("name", AWKWARD_NAMES)
def test_repeated_parameter_with_an_awkward_name_is_invalid_request(service, no_traceback, path, name):
    encoded = quote(name, safe="")
    status, content_type, body = raw(service, "POST", path, f"{encoded}=1&{encoded}=2".encode(), FORM)
    assert status == 400 and content_type.startswith("application/json"), (status, body)
    assert b'"invalid_request"' in body


@pytest.mark.parametrize("name", AWKWARD_NAMES)
def test_repeated_parameter_with_an_awkward_name_on_authorize_is_a_page(service, no_traceback, name):
    encoded = quote(name, safe="")
    status, content_type, body = raw(service, "GET", f"/authorize?{encoded}=1&{encoded}=2")
    assert status == 400 and content_type.startswith("text/html"), (status, body)
    assert b"This sign-in link is damaged" in body


@pytest.mark.parametrize("value", ['a"b', "a\\b", "é", "x'y\"z"])
def test_awkward_values_are_refused_not_crashed(service, no_traceback, value):
    for path, data in [("/token", {"grant_type": value}), ("/token", {"grant_type": "client_credentials",
                                                                      "scope": value}),
                       ("/device_authorization", {"client_id": "gridauth-cli", "scope": f"g:{value}"}),
                       ("/revoke", {"token": value, "client_id": value})]:
        reply = service.post(path, data, auth=PORTAL if path == "/token" and data.get("scope") else None)
        assert reply.status < 500 and isinstance(reply.body, dict), (path, data, reply.status, reply.body)
    for name in ("response_type", "redirect_uri", "scope"):
        status, content_type, body = raw(service, "GET", authorize_url(**{name: value}))
        assert status < 500, (name, status, body)


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("decoded", [b"\xff\xfe:\xff", b"gridauth-cli:\xe9", b"\xc3(:secret", b"\xff"])
def test_basic_credentials_that_are_not_utf8_are_invalid_request(service, no_traceback, path, decoded):
    headers = {**FORM, "Authorization": "Basic " + base64.b64encode(decoded).decode()}
    status, content_type, body = raw(service, "POST", path, b"grant_type=client_credentials&token=x", headers)
    assert status == 400 and content_type.startswith("application/json"), (status, body)
    assert b'"invalid_request"' in body


def test_a_long_nonce_is_refused_at_the_edge_on_every_backend(service, accounts, no_traceback):
    verifier, challenge = pkce()
    browser = Browser(service)
    status, page, location = browser.follow(authorize_url(challenge=challenge, nonce="n" * 256))
    assert status == 302 and location.startswith(PORTAL_CB), (status, page)
    query = parse_qs(urlsplit(location).query)
    assert query["error"] == ["invalid_request"] and "nonce" in query["error_description"][0], query
    assert query["state"] == ["st-123"] and "code" not in query
    # The longest nonce the limit allows is kept and comes back in the ID token, on every backend.
    query = login_and_get_code(browser, authorize_url(challenge=challenge, nonce="n" * 255))
    reply = exchange(service, query["code"][0], verifier)
    assert reply.status == 200, reply.body
    claims = jwt.decode(reply.body["id_token"], KeySet.import_key_set(service.get("/jwks").body)).claims
    assert claims["nonce"] == "n" * 255


def _lines(caplog, status: int) -> list[logging.LogRecord]:
    """The server's records, once the access line (written just after the reply went out) is there."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(r.name == "tornado.access" for r in caplog.records):
        time.sleep(0.01)
    return [r for r in caplog.records if r.name.startswith(("tornado", "gridauth"))]


@pytest.mark.parametrize(("method", "path", "body", "headers"), [
    ("POST", "/login", b"username=alice&password=x", FORM),
    ("POST", "/device", b"user_code=BCDF-GHJK", FORM),
    ("POST", "/logout", b"", FORM),
    ("POST", "/login", b"--x\r\n", {"Content-Type": "multipart/form-data; boundary=x"}),
    ("POST", "/login", b"_xsrf=%ff%fe&username=alice", FORM),
    ("BREW", "/login", b"", {}),
    ("BREW", "/device", b"", {}),
    ("DELETE", "/authorize", b"", {}),
])
def test_a_page_refused_before_prepare_is_an_error_page_and_one_log_line(service, caplog, method, path, body,
                                                                         headers):
    caplog.set_level(logging.DEBUG)
    status, content_type, page = raw(service, method, path, body, headers)
    assert 400 <= status < 500 and content_type.startswith("text/html"), (status, page)
    assert b"<title>" in page and b"Home page of this service" in page
    lines = _lines(caplog, status)
    assert len(lines) == 1, [f"{r.name}: {r.getMessage()}" for r in lines]
    assert not lines[0].exc_info and str(status) in lines[0].getMessage()
