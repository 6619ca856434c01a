"""What the loads need, made over HTTP before the run, the way clients and people make it.

alice signs in once through the login form; the example portal then runs the authorization code flow
once per grant (her session answers at once) and exchanges each code for tokens; the command-line
client starts device flows that nobody approves. Only public endpoints are used, so the suite keeps
working whatever the storage underneath looks like.
"""

from __future__ import annotations

import base64
import html
import json
import re
import secrets
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.cookiejar import CookieJar
from typing import Any

PORTAL = ("example-portal", "portal-secret")
SERVICE = ("example-service", "service-secret")
# The device-flow client polled by the load: public, and without DPoP (wrk cannot make a fresh proof per
# request; the shipped gridauth-cli requires one), as oidc-agent polls.
CLI = "oidc-agent"
PORTAL_CALLBACK = "http://localhost:8081/callback"
USER, GROUP = "alice", "dteam_user"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def basic(client: tuple[str, str]) -> str:
    """The HTTP Basic header value of *client*."""
    return "Basic " + base64.b64encode(f"{client[0]}:{client[1]}".encode()).decode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Browser:
    """Cookies kept, redirects shown rather than followed, no proxy (loopback)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                                  urllib.request.HTTPCookieProcessor(CookieJar()), _NoRedirect)

    def request(self, path: str, form: dict[str, str] | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, str, str]:
        """(status, body, Location) of one request."""
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(self.url + path, data=data, headers=headers or {})
        try:
            with self.opener.open(request, timeout=30) as resp:
                return resp.status, resp.read().decode(), resp.headers.get("Location", "")
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(), err.headers.get("Location", "")

    def post_json(self, path: str, form: dict[str, str], client: tuple[str, str] | None = None) -> tuple[int, Any]:
        """A form POST to an OAuth endpoint; (status, decoded JSON)."""
        status, body, _ = self.request(path, form, {"Authorization": basic(client)} if client else None)
        try:
            return status, json.loads(body) if body else None
        except ValueError:
            return status, body


def hidden_fields(page: str) -> dict[str, str]:
    """The hidden inputs of a page's forms (the CSRF token among them)."""
    fields = {}
    for tag in re.findall(r"<input[^>]*>", page):
        name, value = re.search(r'name="([^"]*)"', tag), re.search(r'value="([^"]*)"', tag)
        if name and 'type="hidden"' in tag:
            fields[name.group(1)] = html.unescape(value.group(1) if value else "")
    return fields


def sign_in(url: str, password: str) -> Browser:
    """A browser with alice's session."""
    browser = Browser(url)
    status, page, _ = browser.request("/login?next=/")
    status, page, location = browser.request("/login", {**hidden_fields(page), "username": USER,
                                                        "password": password, "next": "/"})
    if status not in (302, 303):
        raise RuntimeError(f"alice could not sign in ({status}): {page[:300]}")
    return browser


@dataclass
class Grant:
    """What one authorization code exchange gave the portal."""

    refresh_token: str
    access_token: str


def code_grant(browser: Browser) -> Grant:
    """One authorization code flow of the portal for alice's session, and its exchange."""
    query = urllib.parse.urlencode({"response_type": "code", "client_id": PORTAL[0], "redirect_uri": PORTAL_CALLBACK,
                                    "scope": f"openid offline_access group:{GROUP}", "state": secrets.token_hex(8),
                                    "nonce": secrets.token_hex(8)})
    status, page, location = browser.request("/authorize?" + query)
    if 'name="group"' in page:  # a group choice, should the scope not settle it
        status, page, location = browser.request("/authorize?" + query, {**hidden_fields(page), "group": GROUP,
                                                                         "choose": "1"})
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query).get("code", [""])[0]
    if not code:
        raise RuntimeError(f"/authorize gave no code ({status}, {location!r}): {page[:300]}")
    status, tokens = browser.post_json("/token", {"grant_type": "authorization_code", "code": code,
                                                  "redirect_uri": PORTAL_CALLBACK}, PORTAL)
    if status != 200 or "refresh_token" not in tokens:
        raise RuntimeError(f"the code exchange gave {status}: {tokens}")
    return Grant(tokens["refresh_token"], tokens["access_token"])


def revoke(browser: Browser, token: str) -> None:
    """The portal revokes one of its access tokens."""
    status, body = browser.post_json("/revoke", {"token": token, "token_type_hint": "access_token"}, PORTAL)
    if status != 200:
        raise RuntimeError(f"/revoke gave {status}: {body}")


def device_code(browser: Browser) -> str:
    """A device flow of the command-line client, left pending."""
    status, body = browser.post_json("/device_authorization", {"client_id": CLI, "scope": "openid offline_access"})
    if status != 200:
        raise RuntimeError(f"/device_authorization gave {status}: {body}")
    return str(body["device_code"])


@dataclass
class Fixtures:
    """Everything the gridauth loads use, made once per server."""

    refresh_tokens: tuple[str, ...]
    active_token: str
    revoked_token: str
    device_codes: tuple[str, ...]


def make_fixtures(url: str, password: str, connections: int) -> Fixtures:
    """A grant per connection to refresh, an access token kept active and one revoked, a device flow per connection."""
    browser = sign_in(url, password)
    grants = [code_grant(browser) for _ in range(connections + 2)]
    active, revoked = grants[-2], grants[-1]
    revoke(browser, revoked.access_token)
    return Fixtures(tuple(g.refresh_token for g in grants[:connections]), active.access_token, revoked.access_token,
                    tuple(device_code(browser) for _ in range(connections)))
