"""The two ways to log in: the device flow (RFC 8628, the default) and the browser on a loopback redirect.

Device flow: the client asks for a device code, shows the verification URL and the user code (and
the complete URL), opens a browser when one is at hand, then polls the token endpoint every
``interval`` seconds (5 s more after each ``slow_down``) until the person approves or denies, or the
code expires.

Browser (``--browser``): the authorization code flow with PKCE (S256) and a loopback redirect URI
``http://127.0.0.1:<port>/callback`` on a port chosen by the system (RFC 8252 §7.3); the server
must accept any port for the registered ``http://127.0.0.1/callback``.
"""

from __future__ import annotations

import hashlib
import html
import http.server
import os
import secrets
import sys
import threading
import time
import webbrowser
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import parse_qs, urlencode, urlsplit

from .discovery import Metadata
from .dpop import ProofKey, b64url
from .errors import AccessDenied, ClientError, LoginTimeout, ServerRefused, ServerUnreachable
from .oauth import describe, post_form, refused, token_request

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SLOW_DOWN_STEP = 5
BROWSER_TIMEOUT = 300.0
CALLBACK_PATH = "/callback"
MAX_NETWORK_HICCUPS = 3


# -- waiting on a terminal -----------------------------------------------------------------------
class Waiting:
    """A spinner with the time left on a terminal; nothing at all when *stream* is not a terminal."""

    FRAMES = "|/-\\"

    def __init__(self, message: str, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.message = message
        self.active = bool(getattr(self.stream, "isatty", lambda: False)())
        self.frame = 0

    def sleep(self, seconds: float, deadline: float) -> None:
        """Wait *seconds* (not past *deadline*), turning the spinner."""
        end = min(time.monotonic() + seconds, deadline)
        while True:
            now = time.monotonic()
            if now >= end:
                return
            self.draw(deadline - now)
            time.sleep(min(0.2 if self.active else 1.0, end - now))

    def draw(self, left: float) -> None:
        """Show one frame (terminal only)."""
        if not self.active:
            return
        minutes, seconds = divmod(max(0, int(left)), 60)
        self.frame = (self.frame + 1) % len(self.FRAMES)
        self.stream.write(f"\r{self.FRAMES[self.frame]} {self.message} ({minutes}:{seconds:02d} left) ")
        self.stream.flush()

    def close(self) -> None:
        """Erase the spinner line."""
        if self.active:
            self.stream.write("\r\033[K")
            self.stream.flush()


# -- opening a browser ---------------------------------------------------------------------------
def graphical_browser() -> webbrowser.BaseBrowser | None:
    """A browser that opens its own window, or None (no display, or only a text browser that would take the terminal).

    ``$BROWSER`` is the user's explicit choice and is always honoured.
    """
    explicit = bool(os.environ.get("BROWSER"))
    if not explicit:
        if sys.platform.startswith("linux") or "bsd" in sys.platform:
            if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
                return None
        elif sys.platform == "darwin" and os.environ.get("SSH_CONNECTION"):
            return None
    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        return None
    if not explicit and type(browser) is webbrowser.GenericBrowser:
        return None  # lynx, w3m, www-browser...: they would take over this terminal
    return browser


def open_in_browser(url: str, out: TextIO) -> None:
    """Open *url* in a graphical browser when there is one; say so."""
    browser = graphical_browser()
    if browser is None:
        return
    try:
        opened = browser.open(url, new=2)
    except Exception:  # a browser that fails to start just means: open the address yourself
        opened = False
    if opened:
        print("A browser window was opened for you.", file=out, flush=True)


# -- device flow ---------------------------------------------------------------------------------
def device_login(meta: Metadata, client_id: str, scope: str, open_browser: bool, out: TextIO,
                 limit: float | None = None, key: ProofKey | None = None) -> dict[str, Any]:
    """Run the device flow (each poll proven by *key*); the token response once the person approved."""
    start = post_form(meta.need("device_authorization_endpoint"), {"client_id": client_id, "scope": scope})
    body = start.body or {}
    if start.status != 200 or not all(isinstance(body.get(k), str) for k in ("device_code", "user_code")):
        raise refused("login", start)
    verification = str(body.get("verification_uri") or body.get("verification_url") or "")
    complete = str(body.get("verification_uri_complete") or "")
    if not verification and not complete:
        raise ServerRefused("the server gave no verification URL for the device flow")
    try:
        interval = max(1, int(body.get("interval") or 5))
        expires_in = max(1, int(body.get("expires_in") or 600))
    except (TypeError, ValueError):
        raise ServerRefused("the device authorization answer has a malformed interval or expires_in") from None
    user_code = body["user_code"]
    print(f"To log in, open {verification or complete} in a browser", file=out)
    print(f"and enter the code {user_code}", file=out)
    if complete:
        print(f"or open directly: {complete}", file=out)
    out.flush()
    if open_browser:
        open_in_browser(complete or verification, out)
    deadline = time.monotonic() + (min(expires_in, limit) if limit else expires_in)
    waiting = Waiting("Waiting for you to approve in the browser")
    hiccups = 0
    try:
        while True:
            waiting.sleep(interval, deadline)
            if time.monotonic() >= deadline:
                raise LoginTimeout("the login was not approved in time; run 'gridauth login' again")
            try:
                answer = token_request(meta.token_endpoint, {"grant_type": DEVICE_GRANT, "device_code":
                                                             body["device_code"], "client_id": client_id}, key)
            except ServerUnreachable:
                hiccups += 1
                if hiccups >= MAX_NETWORK_HICCUPS:
                    raise
                continue
            hiccups = 0
            if answer.status == 200:
                return answer.body or {}
            error = (answer.body or {}).get("error")
            if error == "authorization_pending" or (error == "temporarily_unavailable" and answer.status == 503):
                continue
            if error == "slow_down":
                interval += SLOW_DOWN_STEP
                continue
            if error == "access_denied":
                raise AccessDenied("the login was denied in the browser")
            if error == "expired_token":
                raise LoginTimeout("the login was not approved in time (the code expired); run 'gridauth login' again")
            raise refused("login", answer)
    finally:
        waiting.close()


# -- browser with a loopback redirect ------------------------------------------------------------
def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge) as RFC 7636 §4 defines them."""
    verifier = secrets.token_urlsafe(64)
    challenge = b64url(hashlib.sha256(verifier.encode("ascii")).digest())
    return verifier, challenge


@dataclass
class _Callback:
    state: str
    result: dict[str, str] | None = None
    done: threading.Event = field(default_factory=threading.Event)


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>gridauth</title></head>
<body style="font-family:sans-serif;margin:3em"><h1>{title}</h1><p>{text}</p></body></html>"""


def _handler(callback: _Callback) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        """Receives the redirect back from the authorization server (one request per login)."""

        def log_message(self, *args: Any) -> None:  # noqa: D102 - quiet
            return None

        def _page(self, status: int, title: str, text: str) -> None:
            body = PAGE.format(title=html.escape(title), text=html.escape(text)).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: D102, N802 - http.server hook
            parts = urlsplit(self.path)
            if parts.path != CALLBACK_PATH:
                return self._page(404, "Not found", "This is the gridauth login callback.")
            params = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if not secrets.compare_digest(params.get("state", ""), callback.state) or callback.done.is_set():
                return self._page(400, "Not this login", "This answer is not for the login in progress.")
            callback.result = params
            callback.done.set()
            if "code" in params:
                self._page(200, "Logged in", "You can close this window and go back to the terminal.")
            else:
                self._page(200, "Login failed", params.get("error_description") or params.get("error", "no code"))

    return Handler


def browser_login(meta: Metadata, client_id: str, scope: str, open_browser: bool, out: TextIO,
                  limit: float | None = None, key: ProofKey | None = None) -> dict[str, Any]:
    """Run the authorization code flow with PKCE on a loopback redirect; the token response.

    With *key*, the code is bound to it (``dpop_jkt``, RFC 9449 §10) and its exchange proven by it.
    """
    endpoint = meta.need("authorization_endpoint")
    verifier, challenge = pkce_pair()
    callback = _Callback(state=secrets.token_urlsafe(24))
    try:
        server = http.server.HTTPServer(("127.0.0.1", 0), _handler(callback))
    except OSError as exc:
        raise ClientError(f"cannot listen on 127.0.0.1 for the browser's answer: {exc.strerror or exc}") from None
    redirect_uri = f"http://127.0.0.1:{server.server_address[1]}{CALLBACK_PATH}"
    asked = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope,
             "state": callback.state, "code_challenge": challenge, "code_challenge_method": "S256"}
    query = urlencode({**asked, "dpop_jkt": key.thumbprint()} if key else asked)
    url = endpoint + ("&" if "?" in endpoint else "?") + query
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    waiting = Waiting("Waiting for the browser")
    try:
        print("To log in, open this address in a browser on this machine:", file=out)
        print(url, file=out, flush=True)
        if open_browser:
            open_in_browser(url, out)
        deadline = time.monotonic() + (limit or BROWSER_TIMEOUT)
        while not callback.done.is_set():
            if time.monotonic() >= deadline:
                raise LoginTimeout("the browser did not come back in time; run 'gridauth login --browser' again")
            waiting.sleep(0.2, deadline)
    finally:
        waiting.close()
        server.shutdown()
        server.server_close()
    params = callback.result or {}
    if "code" not in params:
        error = params.get("error", "")
        if error == "access_denied":
            raise AccessDenied("the login was denied in the browser")
        detail = f"{error}: {params['error_description']}" if params.get("error_description") else error
        raise ServerRefused(f"login refused by the server ({detail or 'no code'})")
    answer = token_request(meta.token_endpoint, {"grant_type": "authorization_code", "code": params["code"],
                                                 "redirect_uri": redirect_uri, "client_id": client_id,
                                                 "code_verifier": verifier}, key)
    if answer.status != 200:
        raise ServerRefused(f"the code exchange was refused by the server ({describe(answer)})")
    return answer.body or {}
