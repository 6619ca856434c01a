"""Fixtures of the browser tests: headless Chromium driving gridauth and the example portal as a person would.

Everything runs for real on loopback: a gridauth service (in this process, on its own thread and event
loop, with a fresh SQLite database and a controllable clock, as in ``tests/oauth/conftest.py``), the
example portal (``examples/portal.py``, in this process too) and, for the external-login tests, the node
``oidc-provider`` harness of ``tests/identity``. The browser is Debian's Chromium (``/usr/bin/chromium``)
driven by Playwright's sync API; nothing is downloaded. Without that binary the tests are skipped.

Both gridauth and the portal are served as ``http://localhost:<port>``: gridauth's issuer is left unset in
its copied configuration, so it is the service's own URL (as ``gridauth serve`` makes it), the portal's
registered redirect URIs use the real ports, and cookies are per host.

Every page a test sees is photographed to ``test-artifacts/screenshots/<test>/<NN>-<step>.png`` (the
directory is emptied when the test starts), and every gridauth or portal page is checked for the
accessibility basics: a language, a title, a label for every form field, a name for every button.
"""

from __future__ import annotations

import html.parser
import importlib.util
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from gridauth.config.cfgfile import set_option
from gridauth.config.store import ConfigStore
from harness import PASSWORDS, LoopServer, Reply, Service, bind
from oauth.proofs import token_request_proof

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = REPO / "etc" / "gridauth.cfg"
PORTAL_SOURCE = REPO / "examples" / "portal.py"
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PORTAL_CLIENT = ("example-portal", "portal-secret")
CLIENTS = "DIRAC/Security/Authorization/Clients"
WAIT_MS = 15_000


# -- the example portal, imported from its file --------------------------------------------------------
def load_portal() -> ModuleType:
    """``examples/portal.py`` as a module (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location("gridauth_example_portal", PORTAL_SOURCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


portal_module = load_portal()


# -- servers on their own threads -------------------------------------------------------------------
def bind_localhost() -> tuple[list[Any], str]:
    """Listening sockets on a free port of ``localhost`` and the URL that reaches them."""
    return bind("localhost")


def GridAuth(config: Path, db_url: str, sockets: list[Any], url: str) -> Service:  # noqa: N802
    """The shared in-process service (tests/harness.py) at *url*, every example user with a password."""
    service = Service(config, db_url, sockets, url, users=tuple(PASSWORDS))
    assert service.context.registry.settings.issuer == url
    return service


@dataclass
class Stack:
    """gridauth and the example portal(s), running."""

    gridauth: Service
    portal_url: str
    portal: Any  # examples/portal.py's Portal: its logins in progress, sessions, callback count
    portals: dict[str, tuple[str, Any]] = field(default_factory=dict)  # extra portals: name -> (url, Portal)


class StackBuilder:
    """Ports first (the configuration needs the real URLs), then the configuration, then the servers."""

    def __init__(self, workdir: Path, extra_portals: tuple[tuple[str, str], ...] = ()) -> None:
        self.workdir = workdir
        self.gridauth_sockets, self.gridauth_url = bind_localhost()
        self.portal_sockets, self.portal_url = bind_localhost()
        self.extra = {name: (scope, *bind_localhost()) for name, scope in extra_portals}
        self.servers: list[Service | LoopServer] = []

    def configure(self, edit: Callable[[Any], None] | None = None) -> Path:
        """A copy of etc/gridauth.cfg for the portals' URLs (plus *edit*, a change on the diraccfg CFG, as
        ``gridauth config set`` makes them: :func:`gridauth.config.cfgfile.set_option`)."""
        config = self.workdir / "gridauth.cfg"
        shutil.copyfile(EXAMPLE_CONFIG, config)
        portal_urls = [self.portal_url, *(url for _, _, url in self.extra.values())]

        def change(cfg: Any) -> None:
            client = f"{CLIENTS}/example-portal"
            set_option(cfg, f"{client}/redirect_uris", ", ".join(u + "/callback" for u in portal_urls))
            set_option(cfg, f"{client}/post_logout_redirect_uris", ", ".join(u + "/" for u in portal_urls))
            if edit is not None:
                edit(cfg)

        ConfigStore(config).edit(change, "browser-tests", "portal URLs of this test")
        return config

    def start(self, edit: Callable[[Any], None] | None = None) -> Stack:
        """Configure, then start gridauth and the portal(s)."""
        config = self.configure(edit)
        gridauth = GridAuth(config, f"sqlite:///{self.workdir / 'state.sqlite'}", self.gridauth_sockets,
                            self.gridauth_url)
        self.servers.append(gridauth)

        def portal(sockets: list[Any], url: str, scope: str, prefix: str = "portal") -> Any:
            server = LoopServer(sockets, lambda: portal_module.make_app(
                gridauth.url, *PORTAL_CLIENT, base_url=url, scope=scope, cookie_prefix=prefix), "portal")
            self.servers.append(server)
            assert server.app is not None
            return server.app.settings["portal"]

        main = portal(self.portal_sockets, self.portal_url, portal_module.DEFAULT_SCOPE)
        # All portals are on localhost and browsers keep cookies per host, not per port: own cookie names.
        extra = {name: (url, portal(sockets, url, scope, re.sub(r"\W", "_", name)))
                 for name, (scope, sockets, url) in self.extra.items()}
        return Stack(gridauth, self.portal_url, main, extra)

    def stop(self) -> None:
        """Stop everything started (portals first)."""
        for server in reversed(self.servers):
            server.stop()
        for sockets in [self.gridauth_sockets, self.portal_sockets, *(s for _, s, _ in self.extra.values())]:
            for sock in sockets:
                sock.close()


@pytest.fixture
def new_stack(tmp_path: Path) -> Iterator[Callable[..., StackBuilder]]:
    """``new_stack(extra_portals=())``: a :class:`StackBuilder`; everything is stopped at teardown."""
    builders: list[StackBuilder] = []

    def make(extra_portals: tuple[tuple[str, str], ...] = ()) -> StackBuilder:
        builder = StackBuilder(tmp_path / f"stack{len(builders)}", extra_portals)
        builder.workdir.mkdir()
        builders.append(builder)
        return builder

    yield make
    for builder in builders:
        builder.stop()


@pytest.fixture
def stack(new_stack: Callable[..., StackBuilder]) -> Stack:
    """gridauth on the example configuration (local accounts alice, bob, carol) and the example portal."""
    return new_stack().start()


PersonFactory = Callable[..., "Person"]
StackFactory = Callable[..., StackBuilder]


# -- the browser ----------------------------------------------------------------------------------
@pytest.fixture(scope="package")
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (skips when either is missing).

    Package-scoped: Playwright's sync API keeps an event loop marked running on the main thread, which
    must be gone before other test packages call ``asyncio.run``.
    """
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); the browser tests need Debian's Chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright (pip install playwright) is missing")
    saved = {name: os.environ.pop(name) for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                                                     "all_proxy", "ALL_PROXY") if name in os.environ}
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        os.environ.update(saved)


class _Page(html.parser.HTMLParser):
    """What the accessibility check needs from a page's HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.lang = ""
        self.title = ""
        self.fields: list[dict[str, str]] = []  # form fields, with "in_label" when inside a <label>
        self.label_for: set[str] = set()
        self.buttons: list[dict[str, str]] = []
        self._label_depth = 0
        self._in_title = False
        self._button: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.lang = values.get("lang", "")
        elif tag == "title":
            self._in_title = True
        elif tag == "label":
            self._label_depth += 1
            if values.get("for"):
                self.label_for.add(values["for"])
        elif tag in ("input", "select", "textarea"):
            kind = values.get("type", "text").lower()
            if tag == "input" and kind in ("submit", "button", "reset", "image"):
                self.buttons.append({**values, "text": values.get("value", "")})
            elif kind != "hidden":
                self.fields.append({**values, "tag": tag, "in_label": "1" if self._label_depth else ""})
        elif tag == "button":
            self._button = {**values, "text": ""}

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self._label_depth = max(0, self._label_depth - 1)
        elif tag == "title":
            self._in_title = False
        elif tag == "button" and self._button is not None:
            self.buttons.append(self._button)
            self._button = None

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if self._button is not None:
            self._button["text"] += data


def accessibility_problems(page_html: str) -> list[str]:
    """The accessibility basics a page misses: language, title, labelled fields, named buttons."""
    parsed = _Page()
    parsed.feed(page_html)
    problems = []
    if not parsed.lang:
        problems.append("<html> has no lang")
    if not parsed.title.strip():
        problems.append("no <title>")
    for item in parsed.fields:
        labelled = (item["in_label"] or (item.get("id") and item["id"] in parsed.label_for)
                    or item.get("aria-label") or item.get("aria-labelledby"))
        if not labelled:
            problems.append(f"the field {item.get('name') or item['tag']!r} has no label")
    for button in parsed.buttons:
        if not (button["text"].strip() or button.get("aria-label")):
            problems.append(f"the button {button.get('name', '')!r} has no text")
    return problems


class Person:
    """A person at a browser tab: every page seen is photographed (and ours are checked for accessibility)."""

    def __init__(self, page: Any, shots: Path, own_origins: tuple[str, ...]) -> None:
        self.page = page
        self.shots = shots
        self.own_origins = own_origins
        self.step = 0
        self.visited: list[str] = []  # every committed navigation of the main frame
        page.on("framenavigated", lambda frame: frame == page.main_frame and self.visited.append(frame.url))
        page.set_default_timeout(WAIT_MS)

    @property
    def url(self) -> str:
        """Where the tab is now."""
        return str(self.page.url)

    def snap(self, step: str) -> Path:
        """Photograph the page as *step*; check its accessibility when it is a gridauth or portal page."""
        self.page.wait_for_load_state("load")
        self.step += 1
        path = self.shots / f"{self.step:02d}-{re.sub(r'[^A-Za-z0-9_.-]+', '-', step)}.png"
        self.page.screenshot(path=str(path), full_page=True)
        if self.url.startswith(self.own_origins):
            problems = accessibility_problems(self.page.content())
            assert not problems, f"{step} ({self.url}): {problems}"
        return path

    def open(self, url: str, step: str) -> None:
        """Type *url* in the address bar."""
        self.page.goto(url)
        self.snap(step)

    def click(self, selector: str, step: str, then: str | re.Pattern[str] | Callable[[str], bool] | None = None
              ) -> None:
        """Click *selector*; wait for the page at *then* (a URL glob, pattern or predicate), or for the load."""
        self.page.click(selector)
        if then is not None:
            self.page.wait_for_url(then)
        self.snap(step)

    def fill(self, **fields: str) -> None:
        """Type into the named fields of the page."""
        for name, value in fields.items():
            self.page.fill(f"[name={name}]", value)

    def text(self, selector: str = "main") -> str:
        """The visible text of *selector*."""
        return str(self.page.inner_text(selector))

    def heading(self) -> str:
        """The page's first heading."""
        return str(self.page.inner_text("h1")).strip()


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Path:
    """This test's screenshot directory, emptied."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    path = SCREENSHOTS / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


@pytest.fixture
def person(chromium: Any, shots: Path) -> Iterator[Callable[..., Person]]:
    """``person(*own_origins, javascript=True)``: a person in a fresh browser context (own cookie jar)."""
    contexts: list[Any] = []

    def make(*own_origins: str, javascript: bool = True) -> Person:
        context = chromium.new_context(java_script_enabled=javascript, viewport={"width": 900, "height": 800})
        contexts.append(context)
        return Person(context.new_page(), shots, own_origins)

    yield make
    for context in contexts:
        context.close()


def own(stack: Stack) -> tuple[str, ...]:
    """The origins whose pages the accessibility check applies to."""
    return (stack.gridauth.url, stack.portal_url, *(url for url, _ in stack.portals.values()))


# -- flows shared by the tests ------------------------------------------------------------------------
def login_at_gridauth(who: Person, username: str, password: str, step: str = "gridauth-login") -> None:
    """On gridauth's login page (already photographed), sign in with a local account."""
    who.fill(username=username, password=password)
    who.click("button[name=login]", step)


def choose_group(who: Person, group: str, step: str = "after-group-choice", then: Any = None) -> None:
    """On gridauth's group page, choose *group* and continue."""
    who.page.check(f"input[name=group][value={group}]")
    who.click("button[name=choose]", step, then)


@dataclass
class Poller:
    """A device-flow client polling the token endpoint on its own thread, at the interval asked for.

    Server time runs fast: before each poll the service clock is moved on by the interval (plus a
    second), so the poller never waits in real time and never polls too fast in server time.
    """

    gridauth: Service
    device_code: str
    interval: int
    client_id: str = "gridauth-cli"
    answers: list[Reply] = field(default_factory=list)
    result: Reply | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Poller:
        """Begin polling."""
        self._thread = threading.Thread(target=self._run, name="device-poller", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        interval = self.interval
        while not self._stop.is_set():
            self.gridauth.clock.advance(interval + 1)
            reply = self.gridauth.post("/token", {"grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                                                  "device_code": self.device_code, "client_id": self.client_id},
                                       headers=token_request_proof(self.gridauth))  # gridauth-cli's DPoP is required
            self.answers.append(reply)
            error = (reply.body or {}).get("error")
            if error == "slow_down":
                interval += 5
            elif error != "authorization_pending":
                self.result = reply
                return
            self._stop.wait(0.15)

    def wait(self, timeout: float = 20.0) -> Reply:
        """The final answer (tokens or an error other than pending)."""
        assert self._thread is not None
        deadline = time.monotonic() + timeout
        while self.result is None and time.monotonic() < deadline:
            time.sleep(0.05)
        self._stop.set()
        self._thread.join(timeout=5)
        assert self.result is not None, f"the poller got no final answer: {self.answers[-3:]}"
        return self.result

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
