"""What every test suite shares: a real gridauth service on loopback in this process, HTTP helpers,
and a cookie-keeping browser that drives the pages form by form.

The service is the real Tornado application on its own thread and event loop, on sockets bound
beforehand, over a real database, with a :class:`~gridauth.clock.Clock` the tests may move forward
(12-hour expiries are tested without sleeping). Nothing of gridauth is replaced.
"""

from __future__ import annotations

import asyncio
import base64
import html as html_mod
import json
import re
import signal
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from tornado.httpserver import HTTPServer
from tornado.httputil import HTTPServerConnectionDelegate
from tornado.netutil import bind_sockets

from gridauth.clock import Clock
from gridauth.config.model import DEFAULT_ISSUER
from gridauth.config.reload import RegistryHolder
from gridauth.config.store import ConfigStore
from gridauth.db.engine import Database
from gridauth.db.models import AuthorizationCodeRow, GrantRow, SessionRow
from gridauth.service import ServiceContext
from gridauth.web.app import make_app

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "etc" / "gridauth.cfg"
PORTAL = ("example-portal", "portal-secret")
SERVICE = ("example-service", "service-secret")
PASSWORDS = {"alice": "alice-password", "bob": "bob-password-1", "carol": "carol-password"}

# Loopback never goes through a proxy, whatever the environment says.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Reply:
    """An HTTP answer: status, headers and the decoded JSON body (or the raw bytes, or None)."""

    status: int
    headers: Any
    body: Any


def http(url: str, data: dict[str, str] | bytes | None = None, auth: tuple[str, str] | None = None,
         headers: dict[str, str] | None = None, method: str | None = None, bearer: str | None = None) -> Reply:
    """One real HTTP request; a dict body is form-encoded, *auth* is HTTP Basic, *bearer* a bearer token."""
    all_headers = dict(headers or {})
    if isinstance(data, dict):
        data = urllib.parse.urlencode(data).encode()
        all_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    if auth:
        all_headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    if bearer:
        all_headers["Authorization"] = f"Bearer {bearer}"
    request = urllib.request.Request(url, data=data, headers=all_headers, method=method)
    try:
        with _OPENER.open(request, timeout=30) as resp:
            raw, status, hdrs = resp.read(), resp.status, resp.headers
    except urllib.error.HTTPError as err:
        raw, status, hdrs = err.read(), err.code, err.headers
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = raw
    return Reply(status, hdrs, body)


class LoopServer:
    """A Tornado application built and served on its own thread and event loop, on sockets bound beforehand."""

    def __init__(self, sockets: list[Any], build: Callable[[], HTTPServerConnectionDelegate],
                 name: str = "server") -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self.app: HTTPServerConnectionDelegate | None = None
        started = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self.app = build()
            server = HTTPServer(self.app)
            server.add_sockets(sockets)
            started.set()
            self._loop.run_forever()
            server.stop()
            self._loop.close()

        self._thread = threading.Thread(target=run, name=name, daemon=True)
        self._thread.start()
        assert started.wait(10), f"{name} did not start"

    def stop(self) -> None:
        """Stop the loop (and the server with it)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


def stop_process(proc: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM a child process and wait for it; SIGKILL it if it does not stop in *timeout* seconds."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


def bind(host: str = "127.0.0.1") -> tuple[list[Any], str]:
    """Listening sockets on a free port of *host*, and the URL that reaches them."""
    sockets = bind_sockets(0, host)
    return sockets, f"http://{host}:{sockets[0].getsockname()[1]}"


class Service:
    """A gridauth service in this process on a loopback port, with a controllable clock.

    *sockets*/*url* come from :func:`bind` when the issuer must be the service's real URL (browser and
    command-line tests): like ``gridauth serve``, the service then defaults the issuer to *url* when
    the configuration names none. Otherwise a port of 127.0.0.1 is bound here and the issuer stays
    the configuration's, else ``http://localhost:8080``.
    *users* get their local passwords from :data:`PASSWORDS` (about 0.1 s each).
    """

    def __init__(self, config: Path, db_url: str, sockets: list[Any] | None = None, url: str | None = None,
                 users: tuple[str, ...] = ()) -> None:
        default_issuer = url or DEFAULT_ISSUER
        if sockets is None:
            sockets, url = bind()
        assert url is not None
        self.config = config
        self.url = url
        self.port = sockets[0].getsockname()[1]
        self.clock = Clock()
        self.context = ServiceContext(RegistryHolder(config, default_issuer), Database(db_url), self.clock)
        self.context.prepare_storage()
        for user in users:
            self.context.accounts.set_password(user, PASSWORDS[user], self.clock.now())
        self._server = LoopServer(sockets, lambda: make_app(self.context), "gridauth")
        self._stopped = False

    # -- requests --------------------------------------------------------------------------------
    def post(self, path: str, data: dict[str, str] | bytes | None, auth: tuple[str, str] | None = None,
             **kw: Any) -> Reply:
        """POST to *path* on this service."""
        return http(self.url + path, data, auth, **kw)

    def get(self, path: str, **kw: Any) -> Reply:
        """GET *path* on this service."""
        return http(self.url + path, **kw)

    def refresh(self, refresh_token: str, client: tuple[str, str | None] | None = PORTAL,
                headers: dict[str, str] | None = None, **extra: str) -> Reply:
        """A refresh request by *client* (a public client, ``(id, None)``, sends its client_id only)."""
        data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}
        if client and client[1] is None:
            data["client_id"] = client[0]
            return self.post("/token", data, headers=headers)
        return self.post("/token", data, auth=client, headers=headers)  # type: ignore[arg-type]

    def introspect(self, token: str) -> dict[str, Any]:
        """Introspect *token* as the example resource server."""
        reply = self.post("/introspect", {"token": token}, auth=SERVICE)
        assert reply.status == 200, reply.body
        return reply.body

    def revoke(self, token: str, client_id: str = "gridauth-cli") -> None:
        """Revoke *token* as its public client would."""
        assert self.post("/revoke", {"token": token, "client_id": client_id}).status == 200

    # -- state -----------------------------------------------------------------------------------
    def edit(self, change: Any) -> None:
        """Edit the configuration the administrators' way, then reload it at once."""
        ConfigStore(self.config).edit(change, "test", "test edit")
        assert self.context.holder.reload()

    def count(self, model: type) -> int:
        """How many rows the table of *model* holds."""
        with self.context.db.transaction() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)

    def issued(self) -> dict[str, int]:
        """Rows of what a login leaves behind: sessions, codes, grants (access tokens are not stored)."""
        return {model.__tablename__: self.count(model)
                for model in (SessionRow, AuthorizationCodeRow, GrantRow)}

    def stop(self) -> None:
        """Stop serving and close the database (once)."""
        if self._stopped:
            return
        self._stopped = True
        self._server.stop()
        self.context.db.close()


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
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                                  urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect)
        self.last_url = ""

    def request(self, url: str, data: dict[str, str] | None = None) -> tuple[int, str, str]:
        """(status, body text, Location) of one request."""
        if url.startswith("/"):
            url = self.service.url + url
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(urllib.request.Request(url, data=body), timeout=30) as resp:
                status, text, location = resp.status, resp.read().decode(), resp.headers.get("Location", "")
        except urllib.error.HTTPError as err:
            status, text, location = err.code, err.read().decode(), err.headers.get("Location", "")
        self.last_url = url
        return status, text, location

    def follow(self, url: str, data: dict[str, str] | None = None) -> tuple[int, str, str]:
        """Request *url*, following redirects inside the service; the final answer (or the way out)."""
        status, text, location = self.request(url, data)
        while status in (301, 302, 303) and location:
            if location.startswith("/"):
                location = self.service.url + location
            if not location.startswith(self.service.url):
                return status, text, location
            status, text, location = self.request(location)
        return status, text, location

    @staticmethod
    def form_fields(page: str) -> dict[str, str]:
        """The hidden inputs of the page (the CSRF token, the user code, the group, the next URL)."""
        fields = {}
        for tag in re.findall(r"<input[^>]*>", page):
            name = re.search(r'name="([^"]*)"', tag)
            value = re.search(r'value="([^"]*)"', tag)
            kind = re.search(r'type="([^"]*)"', tag)
            if name and kind and kind.group(1) == "hidden":
                fields[name.group(1)] = html_mod.unescape(value.group(1) if value else "")
        return fields

    hidden_fields = form_fields

    def submit(self, page: str, action: str, **values: str) -> tuple[int, str, str]:
        """Submit the page's form to *action* with its hidden fields and *values*."""
        return self.follow(action, {**self.form_fields(page), **values})

    def login(self, page: str, username: str, password: str) -> tuple[int, str, str]:
        """Fill the login form shown in *page*."""
        return self.submit(page, "/login", username=username, password=password)

    def sign_in(self, page: str, user: str) -> tuple[int, str, str]:
        """Fill the login form with *user*'s password, if *page* is one."""
        if 'name="password"' not in page:
            return 200, page, ""
        return self.login(page, user, PASSWORDS[user])

    def approve_device(self, url: str, user: str = "alice", group: str = "dteam_user",
                       button: str = "approve") -> str:
        """Open a verification URL, sign in, choose *group* if asked, press *button*; the last page."""
        _, page, _ = self.follow(url)
        _, page, _ = self.sign_in(page, user)
        if 'name="choose"' in page:
            _, page, _ = self.submit(page, "/device", group=group, choose="1")
        assert 'name="approve"' in page, page
        _, page, _ = self.submit(page, "/device", **{button: "1"})
        return page
