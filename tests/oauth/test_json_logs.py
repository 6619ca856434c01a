"""``gridauth serve --log-format json``: one JSON object per line with the request's fields, and no secret in any line.

A real server runs sign-ins (a wrong and a right password), a code exchange, a refresh, a failed
client authentication, a device flow, a logout with an ID token in the URL, a forged provider answer
and a form post without its CSRF token; then every string that must stay secret is looked for in the
whole log.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import PORTAL, Browser
from .real_serve import serving
from .test_device_flow import approve, poll, start

REQUEST_FIELDS = {"method", "path", "status", "duration_ms", "client"}


@pytest.fixture
def json_server(config_file, db_url, tmp_path):
    command = [sys.executable, "-m", "gridauth.cli.main"]
    subprocess.run([*command, "db", "init", "--config", str(config_file), "--db", db_url], text=True, check=True,
                   capture_output=True)
    subprocess.run([*command, "admin", "passwd", "alice", "--config", str(config_file), "--db", db_url],
                   input="alice-password\n", text=True, check=True, capture_output=True)
    yield from serving(config_file, db_url, tmp_path, "--log-format", "json")


def test_json_lines_carry_the_request_and_never_a_secret(json_server):
    from .test_code_flow import authorize_url, exchange, login_and_get_code, pkce

    server = json_server
    browser = Browser(server)
    _, page, _ = browser.follow("/login")
    assert browser.login(page, "alice", "not-her-password-1")[0] == 401
    verifier, challenge = pkce()
    query = login_and_get_code(browser, authorize_url(challenge=challenge))
    code = query["code"][0]
    tokens = exchange(server, code, verifier).body
    refreshed = server.post("/token", {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                            auth=PORTAL).body
    assert "access_token" in refreshed
    refused = server.post("/token", {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                          auth=("example-portal", "wrong-portal-secret"))
    assert refused.status == 401
    flow = start(server)
    approve(Browser(server), flow)
    device_tokens = poll(server, flow["device_code"]).body
    assert "access_token" in device_tokens
    assert server.get("/logout?id_token_hint=" + tokens["id_token"]).status in (200, 302, 400)
    assert server.post("/logout?id_token_hint=" + tokens["id_token"], {"x": "1"}).status == 403  # no CSRF token
    assert server.get("/login/callback?code=provider-code-123&state=provider-state-456").status == 400
    session = next(c.value for c in browser.jar if c.name == "gridauth_session")

    log = server.log_text()
    secrets = {
        "passwords": ["alice-password", "not-her-password-1"],
        "client secrets": ["portal-secret", "wrong-portal-secret"],
        "codes": [code, verifier, flow["device_code"], flow["user_code"], "provider-code-123", "provider-state-456"],
        "tokens": [tokens["access_token"], tokens["refresh_token"], tokens["id_token"], refreshed["access_token"],
                   device_tokens["access_token"], device_tokens.get("refresh_token", "-")],
        "session": [session],
    }
    for kind, values in secrets.items():
        for secret in values:
            assert secret not in log, f"one of the {kind} is in the log"

    entries = [json.loads(line) for line in log.splitlines()]  # every line is one JSON object
    assert all({"time", "level", "logger", "message", "pid"} <= set(e) for e in entries)
    assert all(e["time"].endswith("Z") and "T" in e["time"] for e in entries)
    access = [e for e in entries if e["logger"] == "tornado.access"]
    assert access and all(set(e) >= REQUEST_FIELDS for e in access)
    assert all("?" not in e["path"] for e in access)
    by_path = {(e["method"], e["path"], e["status"]): e for e in access}
    assert by_path[("POST", "/token", 401)]["client_id"] == "example-portal"
    assert by_path[("POST", "/device_authorization", 200)]["client_id"] == "gridauth-cli"
    assert by_path[("GET", "/authorize", 200)]["client_id"] == "example-portal"
    assert by_path[("POST", "/login", 401)]["level"] == "WARNING"
    assert isinstance(by_path[("POST", "/token", 401)]["duration_ms"], float)
    assert any(e["logger"] == "gridauth.login" and "failed local login" in e["message"] for e in entries)
    audit = [json.loads(e["message"]) for e in entries if e["logger"] == "gridauth.audit"]
    assert any(a["event"] == "login_failed" and a["outcome"] == "failure" for a in audit), audit
