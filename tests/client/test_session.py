"""``gridauth token``, ``whoami`` and ``logout`` after a real login: refresh, expiry, revocation, JSON."""

from __future__ import annotations

import json
import re

import pytest

from .conftest import assert_one_line_failure, jwt_claims, without_dpop

ACCESS_LIFETIME = 1200  # AccessTokenLifetime of the example configuration
MORE_THAN_ACCESS = str(ACCESS_LIFETIME + 100)


@pytest.fixture
def logged_in(service, cli):
    """alice logged in through the device flow, in group dteam_admin."""
    result = cli.login(service, "dteam_admin")
    assert result.returncode == 0, result.stderr
    return cli


def test_token_refreshes_only_when_asked_and_keeps_the_refresh_token(service, logged_in):
    cli = logged_in
    first = cli.bearer.read_text().strip()
    refresh_before = cli.refresh_file.stat()
    refresh_token = cli.refresh_file.read_text()

    same = cli.run("token")  # 20 minutes left > 60 s: no refresh
    assert same.returncode == 0 and same.stdout.strip() == first and same.stderr == ""

    fresh = cli.run("token", "--min-lifetime", MORE_THAN_ACCESS)
    assert fresh.returncode == 0, fresh.stderr
    new = fresh.stdout.strip()
    assert new != first and cli.bearer.read_text().strip() == new
    # no token of the server lives that long: said once, as a warning
    assert re.fullmatch(r"gridauth: warning: the server's access tokens live \d+ s, less than --min-lifetime "
                        + MORE_THAN_ACCESS + "\n", fresh.stderr)
    claims = jwt_claims(new)
    assert claims["dirac_group"] == "dteam_admin" and "ProxyManagement" in claims["dirac_properties"]
    assert service.introspect(new)["active"] is True
    assert service.introspect(first) == {"active": False}  # a refresh revokes the earlier access tokens
    # The refresh token is the same one, its file untouched.
    after = cli.refresh_file.stat()
    assert cli.refresh_file.read_text() == refresh_token
    assert (after.st_ino, after.st_mtime_ns) == (refresh_before.st_ino, refresh_before.st_mtime_ns)


def test_expired_login_session(service, cli):
    without_dpop(service)  # the server's clock moves 12 h ahead of the command's
    assert cli.login(service, "dteam_admin").returncode == 0
    service.clock.advance(43200 + 1)  # RefreshTokenLifetime
    result = cli.run("token", "--min-lifetime", MORE_THAN_ACCESS)
    line = assert_one_line_failure(result, 14)
    assert line == "gridauth: error: your login session expired; run 'gridauth login'"
    assert result.stdout == ""


def test_revoked_login_session(service, logged_in):
    service.revoke(logged_in.refresh_file.read_text().strip())  # e.g. an administrator, or a logout elsewhere
    result = logged_in.run("token", "--min-lifetime", MORE_THAN_ACCESS)
    line = assert_one_line_failure(result, 15)
    assert line == "gridauth: error: your login session was revoked at the server; run 'gridauth login'"


def test_whoami_json_and_text(service, logged_in):
    cli = logged_in
    token = cli.bearer.read_text().strip()
    claims = jwt_claims(token)
    data, text = cli.many(("whoami", "--json"), ("whoami",))
    assert data.returncode == 0 and text.returncode == 0, data.stderr + text.stderr
    info = json.loads(data.stdout)
    assert {k: info[k] for k in ("user", "vo", "group", "properties", "issuer", "client_id")} == {
        "user": "alice", "vo": "dteam", "group": "dteam_admin",
        "properties": ["NormalUser", "ProxyManagement", "ServiceAdministrator"],
        "issuer": service.url, "client_id": "gridauth-cli"}
    assert info["access_token_expires_at"] == claims["exp"]
    assert 0 < info["access_token_expires_in"] <= ACCESS_LIFETIME
    # the server tells refresh_expires_in, so the expiry is known, not estimated
    assert abs(info["refresh_token_expires_at"] - (claims["iat"] + 43200)) <= 2
    assert info["refresh_token_expiry_estimated"] is False
    assert info["bearer_token_file"] == str(cli.bearer)
    assert info["scope"] == "openid offline_access vo:dteam group:dteam_admin"
    lines = dict(re.split(r":\s+", line, maxsplit=1) for line in text.stdout.splitlines())
    assert lines["user"] == "alice" and lines["group"] == "dteam_admin" and lines["VO"] == "dteam"
    assert lines["properties"] == "NormalUser, ProxyManagement, ServiceAdministrator"
    assert lines["issuer"] == service.url
    assert "(in 19 min" in lines["access token expires"] or "(in 20 min" in lines["access token expires"]
    assert "(in 11 h 59 min" in lines["refresh token expires"] or "(in 12 h" in lines["refresh token expires"]


def test_logout_revokes_and_removes_the_files(service, logged_in):
    cli = logged_in
    refresh = cli.refresh_file.read_text().strip()
    first = cli.bearer.read_text().strip()
    # A fresh token written elsewhere too; the first file keeps the older token. A token of another
    # client in a third file is not ours to remove.
    elsewhere, foreign = cli.root / "elsewhere", cli.root / "foreign"
    foreign.write_text("eyJhbGciOiJub25lIn0.eyJjbGllbnRfaWQiOiJvdGhlciJ9.\n")
    other = cli.run("token", "--min-lifetime", MORE_THAN_ACCESS, env={**cli.env, "BEARER_TOKEN_FILE": str(elsewhere)})
    second = other.stdout.strip()
    assert other.returncode == 0 and elsewhere.read_text().strip() == second != first
    result = cli.run("logout", env={**cli.env, "BEARER_TOKEN_FILE": str(foreign)})
    assert result.returncode == 0, result.stderr
    assert "login session revoked" in result.stdout
    assert service.introspect(refresh) == {"active": False}
    assert service.introspect(second) == {"active": False}
    assert not cli.bearer.exists() and not elsewhere.exists() and foreign.exists()
    assert list(cli.client_dir.iterdir()) == []
    again, token, whoami = cli.many(("logout",), ("token",), ("whoami",))
    assert again.returncode == 0 and again.stderr == "gridauth: not logged in; nothing to revoke\n"
    assert assert_one_line_failure(token, 10) == "gridauth: error: not logged in; run 'gridauth login'"
    assert_one_line_failure(whoami, 10)


def test_token_and_logout_while_the_server_is_down(service, logged_in):
    cli = logged_in
    service.stop()
    valid, failed, refused = cli.many(("token",), ("token", "--min-lifetime", MORE_THAN_ACCESS), ("logout",))
    # the stored token is still good for 20 minutes: no need for the server
    assert valid.returncode == 0 and valid.stdout.strip() == cli.bearer.read_text().strip()
    assert "connection refused" in assert_one_line_failure(failed, 11)
    line = assert_one_line_failure(refused, 11)
    assert "nothing was removed" in line and "--force" in line
    assert cli.refresh_file.exists() and cli.bearer.exists()
    forced = cli.run("logout", "--force")
    assert forced.returncode == 0
    assert forced.stderr.startswith("gridauth: warning: cannot reach 127.0.0.1:")
    assert not cli.refresh_file.exists() and not cli.bearer.exists()
