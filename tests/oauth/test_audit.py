"""The audit log: every security event as a JSON line with who, what, client, group, address and outcome; no secret.

The service's events are driven over HTTP as clients and browsers make them; the audit lines go to
a file through ``audit.configure``, what ``gridauth serve --audit-log FILE`` calls (the last test
runs that command itself).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gridauth import audit
from gridauth.admin import edits

from .conftest import PASSWORDS, PORTAL, SERVICE, Browser, http, issue_grant
from .test_code_flow import authorize_url, exchange, login_and_get_code

WRONG = "not-the-portal-secret"


@pytest.fixture
def audit_file(tmp_path: Path) -> Iterator[Path]:
    """The audit lines of this test, in a file of their own."""
    path = tmp_path / "audit.jsonl"
    audit.configure(str(path))
    yield path
    audit.configure(None)


def lines(path: Path) -> list[dict[str, Any]]:
    """Every audit line so far (each must be one JSON object)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def only(path: Path, event: str, **fields: Any) -> dict[str, Any]:
    """The one line of *event* whose fields include *fields*."""
    found = [line for line in lines(path) if line["event"] == event and fields.items() <= line.items()]
    assert len(found) == 1, (event, fields, lines(path))
    return found[0]


def test_every_event_is_recorded_with_who_what_and_where_and_no_secret(service, accounts, audit_file: Path) -> None:
    secrets: list[str] = [*PASSWORDS.values(), PORTAL[1], SERVICE[1], WRONG, "mallory-guess"]
    browser = Browser(service)

    # a login and an issuance (authorization code), a refresh, a revocation
    query = login_and_get_code(browser, authorize_url(scope="openid profile offline_access"))
    code = query["code"][0]
    tokens = exchange(service, code).body
    secrets += [code, tokens["access_token"], tokens["refresh_token"], tokens["id_token"]]
    only(audit_file, "login", user="alice", address="127.0.0.1", outcome="success")
    issued = only(audit_file, "token_issued", grant_type="authorization_code")
    assert issued | {"time": ""} == {"time": "", "event": "token_issued", "outcome": "success", "user": "alice",
                                     "group": "dteam_user", "vo": "dteam", "client": "example-portal",
                                     "address": "127.0.0.1", "grant_type": "authorization_code"}
    refreshed = service.refresh(tokens["refresh_token"]).body
    secrets.append(refreshed["access_token"])
    only(audit_file, "token_refreshed", user="alice", group="dteam_user", client="example-portal",
         address="127.0.0.1")

    # a client's own token; a failed client authentication
    secrets.append(service.post("/token", {"grant_type": "client_credentials"}, auth=SERVICE).body["access_token"])
    only(audit_file, "token_issued", grant_type="client_credentials", client="example-service")
    assert service.post("/token", {"grant_type": "client_credentials"}, auth=("example-service", WRONG)).status == 401
    assert service.post("/introspect", {"token": "x"}, auth=("example-portal", WRONG)).status == 401
    failed = [line for line in lines(audit_file) if line["event"] == "client_auth_failed"]
    assert [(f["client"], f["outcome"], f["address"]) for f in failed] == [
        ("example-service", "failure", "127.0.0.1"), ("example-portal", "failure", "127.0.0.1")]

    # a code replayed: its grant is revoked
    assert exchange(service, code).body["error"] == "invalid_grant"
    replay = only(audit_file, "code_replay")
    assert (replay["client"], replay["outcome"], replay["error"]) == ("example-portal", "refused", "invalid_grant")

    # a refusal: a refresh of the revoked grant
    assert service.refresh(tokens["refresh_token"]).body["error"] == "invalid_grant"
    refused = only(audit_file, "token_refused", reason="the refresh token was revoked")
    assert (refused["client"], refused["grant_type"], refused["outcome"]) == ("example-portal", "refresh_token",
                                                                              "refused")

    # a revocation
    query = login_and_get_code(browser, authorize_url(scope="openid offline_access"))
    second = exchange(service, query["code"][0]).body
    secrets += [query["code"][0], second["access_token"], second["refresh_token"]]
    assert service.post("/revoke", {"token": second["refresh_token"]}, auth=PORTAL).status == 200
    only(audit_file, "token_revoked", user="alice", group="dteam_user", client="example-portal",
         kind="refresh_token", address="127.0.0.1")

    # failed logins, then the lockout
    other = Browser(service)
    for _ in range(11):
        _, page, _ = other.follow("/login")
        other.login(page, "bob", "mallory-guess")
    assert [line["outcome"] for line in lines(audit_file) if line["event"] == "login_failed"] == ["failure"] * 10
    only(audit_file, "login_locked_out", user="bob", address="127.0.0.1", outcome="refused")

    # a configuration edit and the reload that serves it; a refresh refused with whom it was for
    bobs = issue_grant(service, username="bob")
    secrets.append(bobs)
    service.edit(lambda cfg: edits.user_remove(cfg, "bob"))
    only(audit_file, "config_edit", user="test", reason="test edit", outcome="success")
    only(audit_file, "config_reload", version=service.context.registry.version, outcome="success")
    assert service.refresh(bobs).body["error"] == "invalid_grant"
    only(audit_file, "token_refused", user="bob", group="dteam_user", reason="user 'bob' no longer exists")

    text = audit_file.read_text(encoding="utf-8")
    for secret in secrets:
        assert secret not in text, f"a secret reached the audit log: {secret[:12]}..."
    for line in lines(audit_file):
        assert set(line) <= {"time", "event", "outcome", "user", "client", "group", "vo", "address", "grant_type",
                             "error", "reason", "version", "kind"}, line


def test_serve_audit_log_option_and_the_edits_audit_file(gridauth, tmp_path: Path, cfg_copy: Path, helpers,
                                                         unused_port: int) -> None:
    import subprocess

    from harness import stop_process

    log = tmp_path / "audit" / "gridauth-audit.jsonl"
    log.parent.mkdir()
    errors = tmp_path / "serve.stderr"
    with open(errors, "wb") as stderr:
        proc = subprocess.Popen(gridauth.argv("serve", "--config", cfg_copy, "--port", str(unused_port),
                                              "--db", f"sqlite:///{tmp_path / 'db.sqlite'}", "--audit-log", log),
                                env=gridauth.env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        url = f"http://127.0.0.1:{unused_port}"
        helpers.wait_for(lambda: log.exists() and "gridauth serving" in errors.read_text(), timeout=30,
                         what="gridauth serve")
        assert http(url + "/token", {"grant_type": "client_credentials"}, auth=SERVICE).status == 200
        assert http(url + "/token", {"grant_type": "client_credentials"}, auth=("example-service", WRONG)).status == 401
        # an edit by the command line, with the audit file in its environment
        env = {**gridauth.env, audit.ENV: str(log)}
        gridauth("admin", "user", "add", "zoe", "--groups", "dteam_user", "--config", cfg_copy, env=env, ok=True)
        helpers.wait_for(lambda: '"config_reload"' in log.read_text(), what="the reload in the audit file")
    finally:
        stop_process(proc)
    events = [(line["event"], line["outcome"]) for line in lines(log)]
    assert events == [("token_issued", "success"), ("client_auth_failed", "failure"), ("config_edit", "success"),
                      ("config_reload", "success")], events
    assert (log.stat().st_mode & 0o777) == 0o600
    assert "service-secret" not in log.read_text() and WRONG not in log.read_text()
    assert '"event"' not in errors.read_text()  # in the file only, not in the service log
