"""Fixtures of the external-identity tests: a real OpenID provider on loopback and a scripted browser.

The provider is panva's ``oidc-provider`` (a certified OpenID provider for Node.js), run by
``oidc_provider/provider.js``. Its packages are installed with ``npm install`` the first time (about a
second from the npm registry); without node or npm the tests that need it are skipped.
"""

from __future__ import annotations

import fcntl
import html.parser
import http.cookiejar
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import RSAKey

from harness import stop_process

HARNESS = Path(__file__).resolve().parent / "oidc_provider"
CLIENT_ID = "gridauth"
CLIENT_SECRET = "gridauth-test-secret"
PUBLIC_CLIENT_ID = "gridauth-public"
REDIRECT_URI = "http://127.0.0.1:8080/auth/callback"
SUBJECT = "0f3c9a7e-5b21-4c8d-9e6f-a1b2c3d4e5f6"
ACCOUNT = {
    "email": "alice@example.org",
    "email_verified": True,
    "name": "Alice Anderson",
    "preferred_username": "alice",
    "eduperson_entitlement": [
        "urn:mace:egi.eu:group:dteam:role=member#aai.egi.eu",
        "urn:mace:egi.eu:group:dteam:role=admin#aai.egi.eu",
        "urn:mace:egi.eu:group:lhcb:role=member#aai.egi.eu",
    ],
    "wlcg.groups": ["/dteam", "/dteam/prod"],
}
START_TIMEOUT = 20.0


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def new_signing_key(kid: str) -> RSAKey:
    """A fresh RSA key for the provider to sign ID tokens with (the tests keep the private half)."""
    key = RSAKey.generate_key(2048, private=True)
    key.ensure_kid()
    return RSAKey.import_key({**key.as_dict(private=True), "kid": kid})


def provider_config(key: RSAKey, accounts: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The harness configuration: gridauth as a confidential and a public client, the test account, the key."""
    return {
        "clients": [
            {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [REDIRECT_URI]},
            {"client_id": PUBLIC_CLIENT_ID, "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none"},
        ],
        "accounts": {SUBJECT: ACCOUNT} if accounts is None else accounts,
        "jwks": {"keys": [{**key.as_dict(private=True), "use": "sig", "alg": "RS256"}]},
    }


# -- the provider process ----------------------------------------------------------------------------
@dataclass
class OpenIDProvider:
    """A running ``node provider.js`` and what it was started with."""

    workdir: Path
    config: dict[str, Any]
    key: RSAKey
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(default_factory=Path)

    @property
    def issuer(self) -> str:
        """The provider's issuer URL."""
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        """What the provider printed."""
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.is_file() else ""

    def start(self, port: int | None = None) -> None:
        """Start the provider (on *port*, or a free one) and wait for its ready line."""
        for attempt in range(3):
            self.port = port or free_port()
            config_file = self.workdir / f"op-{self.port}.json"
            config_file.write_text(json.dumps(self.config), encoding="utf-8")
            self.log = self.workdir / f"op-{self.port}-{attempt}.log"
            with open(self.log, "wb") as output:
                self.proc = subprocess.Popen(["node", "provider.js", str(self.port), str(config_file)], cwd=HARNESS,
                                             stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                if f"READY {self.issuer}" in self.log_text():
                    return
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
            self.stop()
            if port is None and "cannot listen" in self.log_text():
                continue  # someone took the port between free_port() and listen
            raise AssertionError(f"the OpenID provider did not start:\n{self.log_text()}")
        raise AssertionError("no free port for the OpenID provider")

    def stop(self) -> None:
        """Stop the provider process (if it runs)."""
        if self.proc is not None:
            stop_process(self.proc)
        self.proc = None

    def restart(self, config: dict[str, Any], key: RSAKey) -> None:
        """Stop, then start again on the same port with another configuration (e.g. a new signing key)."""
        port = self.port
        self.stop()
        self.config, self.key = config, key
        self.start(port)


@pytest.fixture(scope="session")
def oidc_harness() -> Path:
    """The provider harness directory, its npm packages installed; skips when node or npm is missing."""
    return install_harness()


def install_harness() -> Path:
    """Install the harness's npm packages when missing (skip without node or npm); its directory.

    Several test processes (pytest-xdist) may ask at once on a fresh clone: the install runs under
    an exclusive lock, and counts as done only by the marker written after ``npm install`` finished
    (a package's own files appear long before the last dependency's are written).
    """
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed to run the OpenID provider (oidc-provider) for these tests")
    marker = HARNESS / "node_modules" / ".gridauth-installed"
    with open(HARNESS / ".npm-install.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.is_file():
            result = subprocess.run([npm, "install", "--no-audit", "--no-fund"], cwd=HARNESS, capture_output=True,
                                    text=True, timeout=600, stdin=subprocess.DEVNULL)
            if result.returncode != 0:
                pytest.fail(f"npm install in {HARNESS} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
            marker.write_text("npm install finished\n")
    return HARNESS


@pytest.fixture
def start_provider(oidc_harness: Path, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[Callable[..., OpenIDProvider]]:
    """Start providers for one test: ``start_provider(config=None, key=None)``; all stopped at teardown."""
    started: list[OpenIDProvider] = []

    def start(config: dict[str, Any] | None = None, key: RSAKey | None = None) -> OpenIDProvider:
        key = key or new_signing_key(f"test-{len(started)}")
        provider = OpenIDProvider(tmp_path_factory.mktemp("op"), config or provider_config(key), key)
        started.append(provider)
        provider.start()
        return provider

    yield start
    for provider in started:
        provider.stop()


@pytest.fixture(scope="module")
def provider(oidc_harness: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenIDProvider]:
    """One provider shared by a test module (with the standard configuration)."""
    key = new_signing_key("shared")
    op = OpenIDProvider(tmp_path_factory.mktemp("op"), provider_config(key), key)
    op.start()
    yield op
    op.stop()


# -- a scripted browser ------------------------------------------------------------------------------
class _Forms(html.parser.HTMLParser):
    """The forms of a page (action, method, inputs' names and values) and its links."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": values.get("action", ""), "method": values.get("method", "get").lower(),
                               "inputs": {}})
        elif tag == "a" and values.get("href"):
            self.links.append(values["href"])
        elif tag == "input" and self.forms and values.get("name"):
            self.forms[-1]["inputs"][values["name"]] = values.get("value", "")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class BrowserResult:
    """Where the provider finally sent the browser, and the query it carried."""

    location: str
    query: dict[str, list[str]]
    pages: list[str]


class Browser:
    """A person's browser, scripted: follows redirects, signs in with a login name, consents.

    It keeps cookies, as the provider's session and interaction cookies need, and stops at the first
    redirect to *redirect_uri* (nobody needs to listen there).
    """

    def __init__(self, redirect_uri: str = REDIRECT_URI) -> None:
        self.redirect_uri = redirect_uri
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
                                                  _NoRedirect())

    def _open(self, url: str, data: dict[str, str] | None = None) -> tuple[int, str, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(urllib.request.Request(url, data=body), timeout=10) as response:
                return response.status, response.headers.get("Location", ""), response.read().decode()
        except urllib.error.HTTPError as answer:
            return answer.code, answer.headers.get("Location", ""), answer.read().decode(errors="replace")

    def login(self, url: str, login: str, consent: bool = True, max_steps: int = 12) -> BrowserResult:
        """Open *url* (an authorization URL) and go through the provider's pages as *login*."""
        pages: list[str] = []
        data: dict[str, str] | None = None
        for _ in range(max_steps):
            status, location, body = self._open(url, data)
            data = None
            if status in (301, 302, 303, 307, 308):
                target = urllib.parse.urljoin(url, location)
                if target.startswith(self.redirect_uri):
                    query = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query, keep_blank_values=True)
                    return BrowserResult(target, query, pages)
                url = target
                continue
            if status != 200:
                raise AssertionError(f"the provider answered {status} at {url}:\n{body[:2000]}")
            pages.append(body)
            parser = _Forms()
            parser.feed(body)
            form = next((f for f in parser.forms if f["method"] == "post" and "prompt" in f["inputs"]), None)
            if form is None:
                raise AssertionError(f"no sign-in or consent form at {url}:\n{body[:2000]}")
            data = dict(form["inputs"])
            if data["prompt"] == "login":
                data.update(login=login, password="any password")
            elif not consent:  # the page's "[ Cancel ]" link
                url, data = urllib.parse.urljoin(url, next(a for a in parser.links if a.endswith("/abort"))), None
                continue
            url = urllib.parse.urljoin(url, form["action"])
        raise AssertionError(f"no redirect to {self.redirect_uri} after {max_steps} steps")


@pytest.fixture
def browser() -> Browser:
    """A fresh scripted browser (empty cookie jar)."""
    return Browser()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback traffic never goes through an HTTP proxy configured in the environment."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
