"""``gridauth login``: the device flow and the browser flow against a real server, where the tokens go."""

from __future__ import annotations

import http.server
import json
import os
import re
import select
import stat
import threading
import urllib.request
from pathlib import Path

import pytest

from gridauth.client import flows
from gridauth.client.discovery import Metadata

from .conftest import Browser, assert_one_line_failure, jwt_claims, without_dpop


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def tmp_bearer() -> Path:
    """/tmp/bt_u<uid>, the last WLCG discovery location; whatever was there is put back afterwards."""
    path = Path(f"/tmp/bt_u{os.getuid()}")
    saved = path.read_bytes() if path.is_file() and not path.is_symlink() else None
    saved_mode = mode(path) if saved is not None else None
    yield path
    path.unlink(missing_ok=True)
    if saved is not None:
        path.write_bytes(saved)
        path.chmod(saved_mode or 0o600)


def test_login_then_token_at_each_discovery_location(service, cli, tmp_bearer):
    # 1. No BEARER_TOKEN_FILE: login writes $XDG_RUNTIME_DIR/bt_u<uid>.
    env = {k: v for k, v in cli.env.items() if k != "BEARER_TOKEN_FILE"}
    result = cli.login(service, "dteam_user", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # quiet when not on a terminal
    code = re.search(r"enter the code (\S+)", result.stdout).group(1)
    assert f"{service.url}/device" in result.stdout and f"{service.url}/device?user_code={code}" in result.stdout
    runtime = Path(env["XDG_RUNTIME_DIR"]) / f"bt_u{os.getuid()}"
    assert str(runtime) in result.stdout
    token = runtime.read_text().strip()
    assert mode(runtime) == 0o600
    claims = jwt_claims(token)
    assert (claims["preferred_username"], claims["dirac_group"], claims["vo"]) == ("alice", "dteam_user", "dteam")
    assert claims["client_id"] == "gridauth-cli" and claims["iss"] == service.url
    assert service.introspect(token)["active"] is True
    # The refresh token: 0600 in a 0700 directory, apart from the server's state; the issuer is remembered.
    assert mode(cli.refresh_file) == 0o600 and mode(cli.client_dir) == 0o700
    assert service.introspect(cli.refresh_file.read_text().strip())["active"] is True
    assert {mode(p) for p in cli.client_dir.iterdir()} == {0o600}
    settings = Path(cli.env["XDG_CONFIG_HOME"]) / "gridauth" / "client.json"
    assert json.loads(settings.read_text()) == {"issuer": service.url, "client_id": "gridauth-cli"}

    # 2. BEARER_TOKEN_FILE wins. The target is a symlink to a decoy, readable by all: it is replaced
    #    by a new 0600 file (written beside it and renamed over it), the decoy is not written through.
    decoy = cli.root / "decoy"
    decoy.write_text("decoy\n")
    decoy.chmod(0o644)
    cli.bearer.symlink_to(decoy)
    ran = cli.run("token")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == token  # still valid: no refresh
    assert not cli.bearer.is_symlink() and cli.bearer.read_text().strip() == token and mode(cli.bearer) == 0o600
    assert decoy.read_text() == "decoy\n"
    assert sorted(p.name for p in cli.root.iterdir() if p.name.startswith(".")) == []  # no temporary file left

    # 3. Neither variable (or no such runtime directory): /tmp/bt_u<uid>.
    tmp_bearer.unlink(missing_ok=True)
    bare = {k: v for k, v in env.items() if k != "XDG_RUNTIME_DIR"}
    ran = cli.run("token", env=bare)
    assert ran.returncode == 0, ran.stderr
    assert tmp_bearer.read_text().strip() == token and mode(tmp_bearer) == 0o600


def test_group_chosen_in_the_browser_and_a_spinner_on_a_terminal(service, cli):
    """Without GROUP, alice (three groups) chooses on the group page; stderr on a tty shows that it waits."""
    master, slave = os.openpty()
    running = cli.spawn("login", "--issuer", service.url, "--no-open", stderr=slave)
    os.close(slave)
    url = running.expect(r"or open directly: (\S+)").group(1)
    browser = Browser(service)
    _, page, _ = browser.follow(url)
    _, page, _ = browser.sign_in(page, "alice")
    assert 'name="choose"' in page and "lhcb_user" in page and "dteam_admin" in page
    _, page, _ = browser.submit(page, "/device", group="lhcb_user", choose="1")
    _, page, _ = browser.submit(page, "/device", approve="1")
    assert "Device connected" in page
    result = running.finish()
    assert result.returncode == 0
    assert jwt_claims(cli.bearer.read_text())["dirac_group"] == "lhcb_user"
    shown = b""
    while select.select([master], [], [], 0.5)[0]:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the other side is closed
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    assert b"Waiting for you to approve in the browser" in shown and b"left)" in shown
    assert shown.endswith(b"\r\x1b[K")  # the spinner line is erased at the end


def test_browser_flow_with_pkce_on_a_loopback_port(service, cli):
    """``--browser``: the authorization code flow with PKCE, redirected to 127.0.0.1:<any port>/callback."""
    first = cli.login(service)
    assert first.returncode == 0, first.stderr
    first_refresh = cli.refresh_file.read_text().strip()
    # The issuer is remembered from the first login: no --issuer this time.
    running = cli.spawn("login", "--browser", "--no-open", "lhcb_user")
    url = running.expect(r"^(http://\S+/authorize\?\S+)").group(1)
    assert "code_challenge_method=S256" in url and "redirect_uri=http%3A%2F%2F127.0.0.1%3A" in url
    browser = Browser(service)
    _, page, _ = browser.follow(url)
    status, page, location = browser.sign_in(page, "alice")
    assert status == 302 and re.match(r"http://127\.0\.0\.1:\d+/callback\?", location), (status, page)
    with urllib.request.urlopen(location, timeout=10) as answer:  # the browser lands on the CLI's loopback server
        assert answer.status == 200 and b"Logged in" in answer.read()
    result = running.finish()
    assert result.returncode == 0, result.stderr
    token = cli.bearer.read_text().strip()
    assert jwt_claims(token)["dirac_group"] == "lhcb_user"
    assert service.introspect(token)["active"] is True
    # The new login replaced the old one, whose refresh token was revoked.
    assert cli.refresh_file.read_text().strip() != first_refresh
    assert service.introspect(first_refresh) == {"active": False}


def test_denied_in_the_browser(service, cli):
    result = cli.login(service, "dteam_user", button="deny")
    line = assert_one_line_failure(result, 16)
    assert "denied" in line
    assert not cli.bearer.exists() and not cli.refresh_file.exists()


def test_device_code_expires_while_waiting(service, cli):
    without_dpop(service)  # the server's clock moves 10 minutes ahead of the command's
    running = cli.spawn("login", "--issuer", service.url)
    running.expect(r"or open directly: ")
    service.clock.advance(601)  # nobody approved within DeviceCodeLifetime
    line = assert_one_line_failure(running.finish(), 17)
    assert "not approved in time" in line and "gridauth login" in line


def test_polling_respects_interval_and_slow_down(monkeypatch):
    """The poll loop waits ``interval`` seconds, 5 s more after each slow_down (virtual time, fake server)."""
    answers = [{"error": "authorization_pending"}, {"error": "slow_down"}, {"error": "authorization_pending"},
               {"error": "slow_down"}, {"access_token": "a.b.c", "refresh_token": "r", "token_type": "Bearer"}]
    now = [1000.0]
    polls: list[float] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/device_authorization":
                body = {"device_code": "dc", "user_code": "BCDF-GHJK", "verification_uri": "http://x/device",
                        "interval": 2, "expires_in": 600}
            else:
                polls.append(now[0])
                body = answers.pop(0)
            data = json.dumps(body).encode()
            self.send_response(200 if "access_token" in body or "device_code" in body else 400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"

    class VirtualTime:
        @staticmethod
        def monotonic():
            return now[0]

        @staticmethod
        def sleep(seconds):
            now[0] += seconds

    monkeypatch.setattr(flows, "time", VirtualTime)
    meta = Metadata(issuer=base, token_endpoint=base + "/token", device_authorization_endpoint=base +
                    "/device_authorization", authorization_endpoint=None, revocation_endpoint=None,
                    userinfo_endpoint=None, raw={})
    out = open(os.devnull, "w")  # noqa: SIM115
    try:
        tokens = flows.device_login(meta, "gridauth-cli", "openid", False, out)
    finally:
        out.close()
        server.shutdown()
        server.server_close()
    assert tokens["access_token"] == "a.b.c"
    gaps = [round(b - a, 3) for a, b in zip([1000.0, *polls], polls, strict=False)]
    assert gaps == [2, 2, 7, 7, 12]


def test_no_browser_is_opened_without_a_display(monkeypatch):
    """On a headless Linux host (no DISPLAY, WAYLAND_DISPLAY or BROWSER) nothing is opened, not even lynx."""
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(flows.sys, "platform", "linux")
    assert flows.graphical_browser() is None
