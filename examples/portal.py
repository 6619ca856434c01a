#!/usr/bin/env python3
"""An example web portal that logs people in with gridauth: a confidential OpenID Connect client.

Run it next to ``gridauth serve`` (whose example configuration registers this portal as the client
``example-portal`` with the secret ``portal-secret`` and the redirect URI
``http://localhost:8081/callback``)::

    gridauth serve &
    python examples/portal.py --issuer http://localhost:8080

then open http://localhost:8081/ in a browser. Options: ``--issuer``, ``--client-id``,
``--client-secret``, ``--host``, ``--port``, ``--scope``, ``--public-url`` (see ``--help``).

What it does, endpoint by endpoint:

``/``
    "Log in", or who you are: user, VO, group and properties, from the verified ID token and the
    userinfo endpoint.
``/login``
    Starts the authorization code flow: PKCE (S256), ``state`` and ``nonce``, kept server-side in
    memory and bound to the browser by a signed cookie. ``/login?group=<g>`` (or ``?vo=<vo>``) asks
    for that group (VO) with the scope ``group:<g>`` (``vo:<vo>``); without one, gridauth lets the
    person choose when they have several groups.
``/callback``
    Checks ``state``, exchanges the code at the token endpoint (``client_secret_basic`` plus the PKCE
    verifier), verifies the ID token against the issuer's JWKS (signature, ``iss``, ``aud``/``azp``,
    ``exp``, ``iat``, ``nonce``, ``at_hash``), reads the userinfo endpoint, and starts a portal session.
``/logout`` (POST, CSRF-protected)
    Ends the portal session, revokes the refresh token, and sends the browser to the issuer's
    ``end_session_endpoint`` with ``id_token_hint``, ``post_logout_redirect_uri`` and ``state``, which
    ends the gridauth single-sign-on session and comes back to ``/``.

Every endpoint is found through OpenID Connect discovery (``<issuer>/.well-known/openid-configuration``).
Only Tornado, joserfc and the standard library are used. Sessions live in this process's memory: a
restart logs everybody out of the portal (not out of gridauth).

Tests import :func:`make_app` and serve it in-process on a free port.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse
from tornado.template import DictLoader
from tornado.web import Application, RequestHandler

log = logging.getLogger("example-portal")

DEFAULT_ISSUER = "http://localhost:8080"
DEFAULT_CLIENT_ID = "example-portal"
DEFAULT_CLIENT_SECRET = "portal-secret"
DEFAULT_HOST = "localhost"
DEFAULT_PORT = 8081
DEFAULT_SCOPE = "openid profile email"
DEFAULT_COOKIE_PREFIX = "portal"
# The portal's cookies are named <prefix>_session, <prefix>_login and <prefix>_logout.
SESSION_COOKIE = "session"
LOGIN_COOKIE = "login"
LOGOUT_COOKIE = "logout"
LOGIN_LIFETIME = 600  # seconds a person has to come back from gridauth
SESSION_LIFETIME = 8 * 3600
DISCOVERY_TTL = 300.0
LEEWAY = 60  # seconds of clock skew accepted on exp / iat
TIMEOUT = 10.0
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+@~-]{0,127}")
HASHES = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}


class PortalError(Exception):
    """Something went wrong talking to the issuer; the message is safe to show to the person."""


# -- talking to the issuer ---------------------------------------------------------------------------
def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def pkce_pair() -> tuple[str, str]:
    """A PKCE ``(code_verifier, code_challenge)`` pair for the S256 method (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    return verifier, _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def half_hash(value: str, alg: str) -> str:
    """The OpenID ``at_hash`` of *value*: left half of its hash with the ID token's algorithm's hash."""
    hasher = hashlib.sha512 if alg in ("EdDSA", "Ed25519") else HASHES.get(alg[-3:], hashlib.sha256)
    digest = hasher(value.encode("ascii")).digest()
    return _b64url(digest[: len(digest) // 2])


def basic_auth(client_id: str, client_secret: str) -> str:
    """The ``Authorization`` header of ``client_secret_basic`` (RFC 6749 §2.3.1: form-encode, then base64)."""
    raw = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


class Issuer:
    """The OpenID provider (gridauth) as this portal sees it: discovery, keys, token, userinfo, revocation."""

    def __init__(self, issuer: str, client_id: str, client_secret: str) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self._metadata: tuple[float, dict[str, Any]] | None = None
        self._keys: KeySet | None = None

    async def _fetch(self, what: str, request: HTTPRequest) -> HTTPResponse:
        try:
            return await AsyncHTTPClient().fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as error:  # refused, unreachable, timed out
            raise PortalError(f"cannot reach the {what} of {self.issuer}: {error}") from error

    @staticmethod
    def _json(what: str, response: HTTPResponse) -> dict[str, Any]:
        try:
            body = json.loads(response.body or b"")
        except ValueError as error:
            raise PortalError(f"the {what} answered HTTP {response.code} with no JSON") from error
        if not isinstance(body, dict):
            raise PortalError(f"the {what} did not answer a JSON object")
        return body

    async def metadata(self) -> dict[str, Any]:
        """The discovery document (cached a few minutes); its ``issuer`` must be the configured one."""
        if self._metadata and time.monotonic() - self._metadata[0] < DISCOVERY_TTL:
            return self._metadata[1]
        url = self.issuer + "/.well-known/openid-configuration"
        response = await self._fetch("discovery document", HTTPRequest(url, request_timeout=TIMEOUT))
        if response.code != 200:
            raise PortalError(f"discovery at {url} answered HTTP {response.code}")
        metadata = self._json("discovery document", response)
        if metadata.get("issuer") != self.issuer:
            raise PortalError(f"the discovery document names the issuer {metadata.get('issuer')!r}, "
                              f"not {self.issuer!r}")
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(metadata.get(name), str):
                raise PortalError(f"the discovery document has no {name}")
        self._metadata = (time.monotonic(), metadata)
        return metadata

    async def keys(self, refresh: bool = False) -> KeySet:
        """The issuer's public keys (JWKS), fetched again when *refresh* (e.g. after a key rotation)."""
        if self._keys is None or refresh:
            url = (await self.metadata())["jwks_uri"]
            response = await self._fetch("JWKS", HTTPRequest(url, request_timeout=TIMEOUT))
            if response.code != 200:
                raise PortalError(f"the JWKS at {url} answered HTTP {response.code}")
            try:
                self._keys = KeySet.import_key_set(self._json("JWKS", response))  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError) as error:
                raise PortalError(f"the JWKS at {url} cannot be read: {error}") from error
        return self._keys

    async def _post(self, what: str, url: str, form: Mapping[str, str]) -> HTTPResponse:
        request = HTTPRequest(url, method="POST", body=urlencode(form), request_timeout=TIMEOUT,
                              headers={"Content-Type": "application/x-www-form-urlencoded",
                                       "Accept": "application/json",
                                       "Authorization": basic_auth(self.client_id, self.client_secret)})
        return await self._fetch(what, request)

    async def authorization_url(self, redirect_uri: str, scope: str, state: str, nonce: str, challenge: str) -> str:
        """Where to send the browser to log in (authorization code flow, PKCE S256)."""
        endpoint = (await self.metadata())["authorization_endpoint"]
        params = {"response_type": "code", "client_id": self.client_id, "redirect_uri": redirect_uri,
                  "scope": scope, "state": state, "nonce": nonce, "code_challenge": challenge,
                  "code_challenge_method": "S256"}
        return endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)

    async def exchange(self, code: str, redirect_uri: str, verifier: str) -> dict[str, Any]:
        """Trade an authorization code for tokens (``client_secret_basic`` + PKCE verifier)."""
        endpoint = (await self.metadata())["token_endpoint"]
        response = await self._post("token endpoint", endpoint, {
            "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "code_verifier": verifier})
        body = self._json("token endpoint", response)
        if response.code != 200:
            raise PortalError(f"the token endpoint refused the code: {body.get('error', response.code)}"
                              + (f" ({body['error_description']})" if body.get("error_description") else ""))
        if not isinstance(body.get("access_token"), str) or not isinstance(body.get("id_token"), str):
            raise PortalError("the token endpoint answered without an access token or an ID token")
        return body

    async def verify_id_token(self, id_token: str, nonce: str, access_token: str) -> dict[str, Any]:
        """The claims of *id_token* once its signature, issuer, audience, times, nonce and at_hash check out."""
        metadata = await self.metadata()
        algorithms = [a for a in metadata.get("id_token_signing_alg_values_supported", ["RS256"])
                      if a in ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")]
        try:
            try:
                token = jwt.decode(id_token, await self.keys(), algorithms=algorithms)
            except (JoseError, ValueError):  # an unknown kid: the issuer may have rotated its keys
                token = jwt.decode(id_token, await self.keys(refresh=True), algorithms=algorithms)
        except (JoseError, ValueError) as error:
            raise PortalError(f"the ID token signature does not verify: {error}") from error
        claims = dict(token.claims)
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY, iss={"essential": True, "value": self.issuer}, sub={"essential": True},
            aud={"essential": True, "value": self.client_id}, exp={"essential": True}, iat={"essential": True},
            nonce={"essential": True, "value": nonce})
        try:
            registry.validate(claims)
        except JoseError as error:
            raise PortalError(f"the ID token is not valid for this login: {error}") from error
        aud = claims["aud"]
        if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != self.client_id:
            raise PortalError("the ID token has several audiences and another authorized party")
        at_hash = claims.get("at_hash")
        if at_hash is not None and at_hash != half_hash(access_token, token.header.get("alg", "RS256")):
            raise PortalError("the ID token's at_hash does not match the access token")
        return claims

    async def userinfo(self, access_token: str) -> dict[str, Any]:
        """The userinfo endpoint's answer for *access_token* (empty when the issuer has none)."""
        endpoint = (await self.metadata()).get("userinfo_endpoint")
        if not endpoint:
            return {}
        response = await self._fetch("userinfo endpoint", HTTPRequest(
            endpoint, request_timeout=TIMEOUT, headers={"Authorization": f"Bearer {access_token}",
                                                        "Accept": "application/json"}))
        if response.code != 200:
            raise PortalError(f"the userinfo endpoint answered HTTP {response.code}")
        return self._json("userinfo endpoint", response)

    async def revoke(self, token: str) -> None:
        """Revoke a refresh token (RFC 7009); failures are only logged: logging out goes on."""
        endpoint = (await self.metadata()).get("revocation_endpoint")
        if not endpoint:
            return
        try:
            response = await self._post("revocation endpoint", endpoint,
                                        {"token": token, "token_type_hint": "refresh_token"})
            if response.code != 200:
                log.warning("revocation answered HTTP %s", response.code)
        except PortalError as error:
            log.warning("revocation failed: %s", error)

    async def logout_url(self, id_token: str, post_logout_redirect_uri: str, state: str) -> str | None:
        """The issuer's RP-initiated logout URL, or None when it publishes no ``end_session_endpoint``."""
        endpoint = (await self.metadata()).get("end_session_endpoint")
        if not endpoint:
            return None
        params = {"id_token_hint": id_token, "post_logout_redirect_uri": post_logout_redirect_uri,
                  "state": state, "client_id": self.client_id}
        return endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)


# -- the portal's own state ------------------------------------------------------------------------
@dataclass
class PendingLogin:
    """A login sent to the issuer and not back yet: what the callback needs to check it."""

    nonce: str
    verifier: str
    scope: str
    started: float = field(default_factory=time.monotonic)


@dataclass
class Session:
    """A person logged in to the portal."""

    claims: dict[str, Any]
    userinfo: dict[str, Any]
    id_token: str
    access_token: str
    refresh_token: str | None
    scope: str
    started: float = field(default_factory=time.monotonic)

    @property
    def username(self) -> str:
        """The gridauth user name."""
        return str(self.userinfo.get("preferred_username") or self.claims.get("preferred_username")
                   or self.claims["sub"])

    def claim(self, name: str, default: Any = None) -> Any:
        """A claim of the userinfo answer, else of the ID token."""
        return self.userinfo.get(name, self.claims.get(name, default))


@dataclass
class Portal:
    """Everything the handlers share: configuration, the issuer, logins in progress, sessions."""

    issuer: Issuer
    base_url: str
    scope: str = DEFAULT_SCOPE
    cookie_prefix: str = DEFAULT_COOKIE_PREFIX  # cookies ignore ports: portals sharing a host name need their own
    pending: dict[str, PendingLogin] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    callbacks: int = 0  # how many times /callback was reached (tests check that nothing came back)

    @property
    def redirect_uri(self) -> str:
        """The redirect URI registered for this portal at gridauth."""
        return self.base_url + "/callback"

    @property
    def post_logout_redirect_uri(self) -> str:
        """Where gridauth sends the browser after logging out (registered as post_logout_redirect_uris)."""
        return self.base_url + "/"

    def forget_expired(self) -> None:
        """Drop logins nobody came back from and sessions past their lifetime."""
        now = time.monotonic()
        for state in [s for s, p in self.pending.items() if now - p.started > LOGIN_LIFETIME]:
            del self.pending[state]
        for sid in [s for s, v in self.sessions.items() if now - v.started > SESSION_LIFETIME]:
            del self.sessions[sid]


# -- pages -----------------------------------------------------------------------------------------
TEMPLATES = {
    "base.html": """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}Example portal{% end %}</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; color: #1b1b1b;
         line-height: 1.5; }
  header { border-bottom: 1px solid #bbb; margin-bottom: 1.5rem; }
  dt { font-weight: 600; } dd { margin: 0 0 .5rem 0; }
  .button, button { display: inline-block; margin-top: 1rem; padding: .55rem 1.2rem; font-size: 1rem; }
  .error { color: #a00000; border-left: 4px solid #a00000; padding-left: .6rem; }
  .note { color: #444; font-size: .95rem; }
  pre { background: #f4f4f4; padding: .6rem; overflow-x: auto; font-size: .85rem; }
</style>
</head>
<body>
<header><p><strong>Example portal</strong> &mdash; signs in with <a href="{{ issuer }}">{{ issuer }}</a></p></header>
<main>
{% block body %}{% end %}
</main>
</body>
</html>""",
    "home.html": """{% extends "base.html" %}
{% block body %}
{% if notice %}<p class="note" role="status">{{ notice }}</p>{% end %}
{% if session %}
<h1>Welcome, {{ session.username }}</h1>
<dl id="who">
  <dt>User</dt><dd id="user">{{ session.username }}</dd>
  {% if session.claim("name") %}<dt>Name</dt><dd id="name">{{ session.claim("name") }}</dd>{% end %}
  {% if session.claim("email") %}<dt>E-mail</dt><dd id="email">{{ session.claim("email") }}</dd>{% end %}
  <dt>VO</dt><dd id="vo">{{ session.claim("vo", "") }}</dd>
  <dt>Group</dt><dd id="group">{{ session.claim("dirac_group", "") }}</dd>
  <dt>Properties</dt><dd id="properties">{{ ", ".join(session.claim("dirac_properties", [])) or "none" }}</dd>
  <dt>All your groups in this VO</dt><dd id="groups">{{ ", ".join(session.claim("groups", [])) or "none" }}</dd>
  <dt>Granted scope</dt><dd id="scope">{{ session.scope }}</dd>
</dl>
{% set others = [g for g in session.claim("groups", []) if g != session.claim("dirac_group")] %}
{% if others %}
<p>Work in another group of this VO (single sign-on: gridauth asks nothing):
{% for g in others %}<a class="switch" href="/login?{{ url_encode({'group': g}) }}">{{ g }}</a> {% end %}</p>
{% end %}
<form method="post" action="/logout">
  {% module xsrf_form_html() %}
  <button type="submit" name="logout" value="1">Log out</button>
</form>
<details><summary>ID token claims</summary><pre>{{ json_dump(session.claims) }}</pre></details>
{% else %}
<h1>Example portal</h1>
<p>You are not logged in.</p>
<p><a class="button" id="login" href="/login">Log in</a></p>
{% end %}
{% end %}""",
    "error.html": """{% extends "base.html" %}
{% block title %}Login failed &mdash; Example portal{% end %}
{% block body %}
<h1>{{ title }}</h1>
<p class="error" role="alert">{{ message }}</p>
<p><a href="/">Back to the portal</a></p>
{% end %}""",
}


class PortalHandler(RequestHandler):
    """Base of the portal's pages: the shared state, strict headers, the session cookie."""

    @property
    def portal(self) -> Portal:
        """The state shared by the handlers."""
        return self.settings["portal"]  # type: ignore[no-any-return]

    def set_default_headers(self) -> None:  # noqa: D102 - tornado hook
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(self.portal.issuer.issuer))
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; "
                        f"form-action 'self' {origin}; frame-ancestors 'none'")

    @property
    def secure(self) -> bool:
        """Cookies get ``Secure`` when the portal is published over https."""
        return self.portal.base_url.startswith("https://")

    def cookie_name(self, kind: str) -> str:
        """The name of this portal's cookie of *kind* (session, login, logout)."""
        return f"{self.portal.cookie_prefix}_{kind}"

    def set_private_cookie(self, kind: str, value: str, max_age: int | None = None) -> None:
        """A signed, HttpOnly, SameSite=Lax cookie."""
        self.set_signed_cookie(self.cookie_name(kind), value, expires_days=None, max_age=max_age, httponly=True,
                               samesite="Lax", secure=self.secure)

    def private_cookie(self, kind: str, max_age_days: float = 1) -> str | None:
        """The value of a signed cookie set by this portal, or None."""
        value = self.get_signed_cookie(self.cookie_name(kind), max_age_days=max_age_days)
        return value.decode() if value else None

    def current_session(self) -> Session | None:
        """The portal session of this browser, if any."""
        self.portal.forget_expired()
        sid = self.private_cookie(SESSION_COOKIE)
        return self.portal.sessions.get(sid) if sid else None

    def show(self, template: str, status: int = 200, **values: Any) -> None:
        """Render *template*."""
        self.set_status(status)
        self.render(template, issuer=self.portal.issuer.issuer,
                    json_dump=lambda v: json.dumps(v, indent=2, sort_keys=True), url_encode=urlencode, **values)

    def fail(self, title: str, message: str, status: int = 400) -> None:
        """An error page."""
        self.show("error.html", status=status, title=title, message=message)


class HomeHandler(PortalHandler):
    """``/``: "Log in", or who you are."""

    def get(self) -> None:  # noqa: D102 - tornado verb
        notice = ""
        logout_state = self.private_cookie(LOGOUT_COOKIE)
        if logout_state is not None:
            self.clear_cookie(self.cookie_name(LOGOUT_COOKIE))
            if secrets.compare_digest(self.get_query_argument("state", ""), logout_state):
                notice = "You are logged out of the portal and of gridauth."
        self.show("home.html", session=self.current_session(), notice=notice)


class LoginHandler(PortalHandler):
    """``/login``: send the browser to gridauth's authorization endpoint."""

    async def get(self) -> None:  # noqa: D102 - tornado verb
        scope = self.portal.scope.split()
        for selector in ("group", "vo"):
            value = self.get_query_argument(selector, "")
            if value:
                if not NAME.fullmatch(value):
                    return self.fail("Login failed", f"{selector} {value!r} is not a valid name.")
                scope.append(f"{selector}:{value}")
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier, challenge = pkce_pair()
        try:
            url = await self.portal.issuer.authorization_url(self.portal.redirect_uri, " ".join(scope), state,
                                                             nonce, challenge)
        except PortalError as error:
            return self.fail("gridauth is unavailable", str(error), status=502)
        self.portal.forget_expired()
        self.portal.pending[state] = PendingLogin(nonce, verifier, " ".join(scope))
        self.set_private_cookie(LOGIN_COOKIE, state, max_age=LOGIN_LIFETIME)
        self.redirect(url)


class CallbackHandler(PortalHandler):
    """``/callback``: gridauth sends the browser back here with a code (or an error)."""

    async def get(self) -> None:  # noqa: D102 - tornado verb
        portal = self.portal
        portal.callbacks += 1
        state = self.get_query_argument("state", "")
        expected = self.private_cookie(LOGIN_COOKIE, max_age_days=LOGIN_LIFETIME / 86400)
        self.clear_cookie(self.cookie_name(LOGIN_COOKIE))
        if not state or expected is None or not secrets.compare_digest(state, expected):
            pending = None
        else:
            pending = portal.pending.pop(state, None)
        if pending is None:
            return self.fail("Login failed", "This login is unknown, expired, or was started in another browser. "
                             "Log in again.")
        error = self.get_query_argument("error", "")
        if error:
            description = self.get_query_argument("error_description", "")
            return self.fail("Login failed", f"gridauth answered {error}" + (f": {description}" if description
                                                                              else "."), status=403)
        code = self.get_query_argument("code", "")
        if not code:
            return self.fail("Login failed", "gridauth sent no authorization code.")
        issuer = portal.issuer
        try:
            tokens = await issuer.exchange(code, portal.redirect_uri, pending.verifier)
            claims = await issuer.verify_id_token(tokens["id_token"], pending.nonce, tokens["access_token"])
            userinfo = await issuer.userinfo(tokens["access_token"])
        except PortalError as error:
            log.warning("login failed: %s", error)
            return self.fail("Login failed", str(error), status=502)
        if userinfo and userinfo.get("sub") != claims["sub"]:
            return self.fail("Login failed", "The userinfo answer is about someone else than the ID token.", 502)
        previous = self.private_cookie(SESSION_COOKIE)
        if previous:
            portal.sessions.pop(previous, None)  # a new login replaces this browser's session
        sid = secrets.token_urlsafe(32)
        portal.sessions[sid] = Session(claims, userinfo, tokens["id_token"], tokens["access_token"],
                                       tokens.get("refresh_token"), tokens.get("scope", pending.scope))
        self.set_private_cookie(SESSION_COOKIE, sid, max_age=SESSION_LIFETIME)
        log.info("%s logged in (group %s)", claims["sub"], claims.get("dirac_group"))
        self.redirect("/")  # drop the code from the address bar


class LogoutHandler(PortalHandler):
    """``/logout`` (POST): end the portal session, then the gridauth session (RP-initiated logout)."""

    async def post(self) -> None:  # noqa: D102 - tornado verb
        sid = self.private_cookie(SESSION_COOKIE)
        session = self.portal.sessions.pop(sid, None) if sid else None
        self.clear_cookie(self.cookie_name(SESSION_COOKIE))
        if session is None:
            return self.redirect("/")
        issuer = self.portal.issuer
        if session.refresh_token:
            await issuer.revoke(session.refresh_token)
        state = secrets.token_urlsafe(16)
        try:
            url = await issuer.logout_url(session.id_token, self.portal.post_logout_redirect_uri, state)
        except PortalError as error:
            log.warning("cannot log out at the issuer: %s", error)
            url = None
        if url is None:
            return self.redirect("/")
        self.set_private_cookie(LOGOUT_COOKIE, state, max_age=LOGIN_LIFETIME)
        self.redirect(url)


def make_app(issuer: str = DEFAULT_ISSUER, client_id: str = DEFAULT_CLIENT_ID,
             client_secret: str = DEFAULT_CLIENT_SECRET, base_url: str = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}",
             scope: str = DEFAULT_SCOPE, cookie_secret: str | None = None,
             cookie_prefix: str = DEFAULT_COOKIE_PREFIX) -> Application:
    """The portal as a Tornado application; its shared state is ``app.settings["portal"]``.

    *base_url* is the portal's public URL: the redirect URI is ``<base_url>/callback`` and the
    post-logout redirect URI ``<base_url>/``; both must be registered for *client_id* at gridauth.
    Browsers do not separate cookies by port: portals served on one host name need different
    *cookie_prefix* values.
    """
    portal = Portal(Issuer(issuer, client_id, client_secret), base_url.rstrip("/"), scope, cookie_prefix)
    routes = [(r"/", HomeHandler), (r"/login", LoginHandler), (r"/callback", CallbackHandler),
              (r"/logout", LogoutHandler)]
    return Application(routes,
                       template_loader=DictLoader(TEMPLATES), xsrf_cookies=True,
                       xsrf_cookie_kwargs={"httponly": True, "samesite": "Lax",
                                           "secure": base_url.startswith("https://")},
                       cookie_secret=cookie_secret or secrets.token_urlsafe(32), portal=portal)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description="An example web portal that logs people in with gridauth.")
    parser.add_argument("--issuer", default=DEFAULT_ISSUER, help=f"gridauth's issuer URL (default: {DEFAULT_ISSUER})")
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID, help=f"default: {DEFAULT_CLIENT_ID}")
    parser.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET,
                        help="the client secret (default: the example configuration's)")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default: {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default: {DEFAULT_PORT})")
    parser.add_argument("--scope", default=DEFAULT_SCOPE, help=f"scopes to ask for (default: {DEFAULT_SCOPE!r})")
    parser.add_argument("--public-url", default="",
                        help="the portal's URL as browsers see it (default: http://HOST:PORT); "
                             "PUBLIC_URL/callback must be a registered redirect URI")
    parser.add_argument("--cookie-prefix", default=DEFAULT_COOKIE_PREFIX,
                        help="prefix of the portal's cookie names; give each portal on one host name its own "
                             f"(default: {DEFAULT_COOKIE_PREFIX})")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    """Listen and serve until interrupted."""
    base_url = args.public_url or f"http://{args.host}:{args.port}"
    app = make_app(args.issuer, args.client_id, args.client_secret, base_url, args.scope,
                   cookie_prefix=args.cookie_prefix)
    app.listen(args.port, args.host)
    print(f"Example portal on {base_url}/ (issuer {args.issuer}); Ctrl-C stops it", flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    """``python examples/portal.py [options]``."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
