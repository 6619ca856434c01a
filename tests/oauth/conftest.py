"""Fixtures for the authorization-server tests: a real server on loopback, a real database.

The database is SQLite always and, when ``GRIDAUTH_TEST_MYSQL`` holds a MySQL/MariaDB URL of a
server (e.g. ``mysql+mysqldb://root@127.0.0.1``), MariaDB too: each test gets a fresh database.

Refresh tokens: until the login flows land, tests obtain them through :func:`issue_grant`, a
test-only fixture that creates a grant with the same storage API the login grants use
(``GridAuthorizationServer.create_grant``) — there is no back door in the served HTTP API.
"""

from __future__ import annotations

import asyncio
import base64
import html as html_mod
import json
import os
import re
import shutil
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from gridauth.clock import Clock
from gridauth.config.reload import RegistryHolder
from gridauth.config.store import ConfigStore
from gridauth.db.engine import Database
from gridauth.oauth.issuer import refresh_token_value
from gridauth.oauth.models import GridUser, OAuthClient
from gridauth.oauth.scopes import ScopeRequest, canonical, resolve
from gridauth.web.app import make_app
from gridauth.web.context import ServiceContext

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "etc" / "gridauth.cfg"
PORTAL = ("example-portal", "portal-secret")
SERVICE = ("example-service", "service-secret")


def _backends() -> list[str]:
    backends = ["sqlite"]
    if os.environ.get("GRIDAUTH_TEST_MYSQL"):
        backends.append("mysql")
    return backends


@pytest.fixture(params=_backends())
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: an SQLite file, or a new database on the MariaDB server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.sqlite'}"
        return
    server = os.environ["GRIDAUTH_TEST_MYSQL"].rstrip("/")
    name = f"gridauth_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server + "/")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
    try:
        yield f"{server}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


@dataclass
class Reply:
    """An HTTP answer: status, headers and the decoded JSON body (or None)."""

    status: int
    headers: Any
    body: Any


def http(url: str, data: dict[str, str] | bytes | None = None, auth: tuple[str, str] | None = None,
         headers: dict[str, str] | None = None, method: str | None = None) -> Reply:
    """One real HTTP request; form-encodes a dict body."""
    all_headers = dict(headers or {})
    if isinstance(data, dict):
        data = urllib.parse.urlencode(data).encode()
        all_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    if auth:
        all_headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    req = urllib.request.Request(url, data=data, headers=all_headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw, status, hdrs = resp.read(), resp.status, resp.headers
    except urllib.error.HTTPError as err:
        raw, status, hdrs = err.read(), err.code, err.headers
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = raw
    return Reply(status, hdrs, body)


class Service:
    """A gridauth service running in this process on a loopback port, with a controllable clock."""

    def __init__(self, config: Path, db_url: str) -> None:
        self.config = config
        self.clock = Clock()
        self.context = ServiceContext(RegistryHolder(config), Database(db_url), self.clock, reload_interval=3600)
        self.context.prepare_storage()
        sockets = bind_sockets(0, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop: asyncio.AbstractEventLoop | None = None
        started = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            server = HTTPServer(make_app(self.context))
            server.add_sockets(sockets)
            started.set()
            self._loop.run_forever()
            server.stop()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        started.wait()

    # -- helpers ---------------------------------------------------------------------------------
    def post(self, path: str, data: dict[str, str] | bytes | None, auth: tuple[str, str] | None = None,
             **kw: Any) -> Reply:
        """POST to *path* on this service."""
        return http(self.url + path, data, auth, **kw)

    def get(self, path: str, **kw: Any) -> Reply:
        """GET *path* on this service."""
        return http(self.url + path, **kw)

    def edit(self, change: Any) -> None:
        """Edit the configuration the administrators' way, then reload it at once."""
        ConfigStore(self.config).edit(change, "test", "test edit")
        assert self.context.holder.reload()

    def refresh(self, refresh_token: str, client: tuple[str, str] | None = PORTAL, **extra: str) -> Reply:
        """A refresh request by *client* (a public client sends client_id only)."""
        data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}
        if client and client[1] is None:
            data["client_id"] = client[0]
            return self.post("/token", data)
        return self.post("/token", data, auth=client)

    def introspect(self, token: str) -> dict[str, Any]:
        """Introspect *token* as the example resource server."""
        reply = self.post("/introspect", {"token": token}, auth=SERVICE)
        assert reply.status == 200, reply.body
        return reply.body

    def stop(self) -> None:
        """Stop the loop and the database workers."""
        if self._loop:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self.context.db.close()


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """A private copy of the example configuration."""
    path = tmp_path / "gridauth.cfg"
    shutil.copy(EXAMPLE, path)
    return path


@pytest.fixture
def service(config_file: Path, db_url: str) -> Iterator[Service]:
    """A running service on the example configuration and a fresh database."""
    svc = Service(config_file, db_url)
    yield svc
    svc.stop()


def issue_grant(service: Service, username: str = "alice", scope: str = "openid profile group:dteam_user",
                client_id: str = "example-portal") -> str:
    """Test-only: create a grant as a login flow would (same storage API) and return its refresh token."""
    server = service.context.server
    registry = service.context.registry
    with server.bound(registry):
        asked = ScopeRequest.parse(scope)
        membership = resolve(registry, username, asked)
        client = OAuthClient(registry.client(client_id))
        token = refresh_token_value()
        server.create_grant(client, GridUser(membership, auth_time=service.clock.now()),
                            canonical(asked.plain, membership, asked.properties), token)
    return token


PASSWORDS = {"alice": "alice-password", "bob": "bob-password-1", "carol": "carol-password"}


@pytest.fixture
def accounts(service: Service) -> dict[str, str]:
    """Local-account passwords for the example users, set through the storage API of `gridauth admin passwd`."""
    for user, password in PASSWORDS.items():
        service.context.accounts.set_password(user, password, service.clock.now())
    return PASSWORDS


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Browser:
    """A minimal cookie-keeping HTTP client that drives the pages as a person would, form by form.

    It does not follow redirects by itself: ``follow`` does, within the service, and stops at the
    first location outside it (a client's redirect URI).
    """

    def __init__(self, service: Service) -> None:
        self.service = service
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect)
        self.last_url = ""

    def request(self, url: str, data: dict[str, str] | None = None) -> tuple[int, str, str]:
        """(status, body text, Location) of one request."""
        if url.startswith("/"):
            url = self.service.url + url
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(url, data=body)
        try:
            with self.opener.open(req, timeout=30) as resp:
                status, text, location = resp.status, resp.read().decode(), resp.headers.get("Location", "")
        except urllib.error.HTTPError as err:
            status, text, location = err.code, err.read().decode(), err.headers.get("Location", "")
        self.last_url = url
        return status, text, location

    def follow(self, url: str, data: dict[str, str] | None = None) -> tuple[int, str, str]:
        """Request *url*, following redirects inside the service; returns the final answer."""
        status, text, location = self.request(url, data)
        while status in (301, 302, 303) and location:
            if location.startswith("/"):
                location = self.service.url + location
            if not location.startswith(self.service.url):
                return status, text, location
            status, text, location = self.request(location)
        return status, text, location

    @staticmethod
    def form_fields(html: str) -> dict[str, str]:
        """Hidden and pre-filled inputs of the first form with a CSRF token (or the first form)."""
        fields = {}
        for tag in re.findall(r"<input[^>]*>", html):
            name = re.search(r'name="([^"]*)"', tag)
            value = re.search(r'value="([^"]*)"', tag)
            kind = re.search(r'type="([^"]*)"', tag)
            if name and kind and kind.group(1) == "hidden":
                fields[name.group(1)] = html_mod.unescape(value.group(1) if value else "")
        return fields

    def submit(self, html: str, action: str, **values: str) -> tuple[int, str, str]:
        """Submit the page's form to *action* with its hidden fields and *values*."""
        return self.follow(action, {**self.form_fields(html), **values})

    def login(self, html: str, username: str, password: str) -> tuple[int, str, str]:
        """Fill the login form shown in *html*."""
        return self.submit(html, "/login", username=username, password=password)
