"""``gridauth admin sessions list|revoke`` and ``gridauth admin user suspend|unsuspend``, end to end.

The real commands run in their own processes on the database and configuration file of a real
server on loopback; what they did is asked of the server over HTTP (refresh, introspection).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from gridauth.config.store import ConfigStore

from .conftest import issue_grant

CLI = ("oidc-agent", None)


def _ids(service: Any, *tokens: str) -> list[str]:
    return [service.context.tokens.grant_by_refresh_token(token).id for token in tokens]


def test_sessions_list_and_revoke_from_the_command_line(service: Any, db_url: str, gridauth: Any) -> None:
    portal, cli = issue_grant(service), issue_grant(service, "bob", client_id="oidc-agent")
    assert service.refresh(portal).status == 200
    portal_id, cli_id = _ids(service, portal, cli)

    rows = gridauth.json("admin", "sessions", "list", "--db", db_url)
    assert {row["id"] for row in rows} == {portal_id, cli_id}
    (row,) = gridauth.json("admin", "sessions", "list", "--user", "alice", "--vo", "dteam", "--group", "dteam_user",
                           "--client", "example-portal", "--idp", "local", "--db", db_url)
    assert (row["kind"], row["id"], row["user"], row["client"], row["address"]) == (
        "grant", portal_id, "alice", "example-portal", "127.0.0.1")
    assert row["expires_at"] - row["issued_at"] == 12 * 3600 and row["last_used_at"] >= row["issued_at"]
    text = gridauth("admin", "sessions", "list", "--client", "oidc-agent", "--db", db_url, ok=True).stdout
    (line,) = text.splitlines()
    assert line.startswith(f"grant {cli_id}  user=bob client=oidc-agent vo=dteam group=dteam_user idp=local ")
    assert " last_used=20" in line and line.endswith(" address=-")  # issued in-process: no address

    revoked = gridauth("admin", "sessions", "revoke", "--client", "oidc-agent", "--db", db_url, ok=True)
    assert revoked.stdout == "1\n"
    assert service.refresh(cli, client=CLI).body["error"] == "invalid_grant"
    assert service.refresh(portal).status == 200
    again = gridauth("admin", "sessions", "revoke", "--grant", portal_id, "--db", db_url, ok=True)
    assert again.stdout == "1\n"
    access_gone = service.refresh(portal)
    assert access_gone.body["error"] == "invalid_grant"
    assert gridauth.json("admin", "sessions", "list", "--db", db_url) == []
    before = gridauth("admin", "sessions", "revoke", "--issued-before", "2000-01-01T00:00:00Z", "--db", db_url,
                      ok=True)
    assert before.stdout == "0\n"


@pytest.mark.parametrize(("args", "message"), [
    ([], "name exactly one of --grant, --user, --client, --vo, --idp, --issued-before (given: none)"),
    (["--user", "alice", "--vo", "dteam"], "name exactly one of --grant, --user, --client, --vo, --idp, "
                                           "--issued-before (given: --user, --vo)"),
    (["--issued-before", "last tuesday"], "not an ISO 8601 time: 'last tuesday' (e.g. 2026-12-02T15:00:00Z)"),
    (["--user", ""], "user: expected a name of 1 to 255 characters"),
])
def test_a_bad_revocation_is_one_line_and_revokes_nothing(service: Any, db_url: str, gridauth: Any, helpers: Any,
                                                          args: list[str], message: str) -> None:
    token = issue_grant(service)
    result = gridauth("admin", "sessions", "revoke", *args, "--db", db_url)
    (line,) = helpers.clean_failure(result, exit_code=4, one_line=True)
    assert line == f"gridauth: error: {message}"
    assert service.refresh(token).status == 200


def test_suspend_and_unsuspend_from_the_command_line(service: Any, gridauth: Any, helpers: Any) -> None:
    token = issue_grant(service)
    config = service.config
    suspended = gridauth("admin", "user", "suspend", "alice", "--config", config, "--author", "incident-admin",
                         ok=True)
    assert "user suspend alice: written as version" in suspended.stderr
    assert "Suspended = yes" in config.read_text()
    assert service.context.holder.reload()
    assert service.refresh(token).body["error"] == "invalid_grant"
    (row,) = [r for r in gridauth.json("admin", "user", "list", "--config", config) if r["name"] == "alice"]
    assert row["suspended"] == "yes"

    gridauth("admin", "user", "unsuspend", "alice", "--config", config, "--author", "incident-admin", ok=True)
    assert "Suspended" not in config.read_text()
    assert service.context.holder.reload()
    assert service.refresh(token).status == 200
    history = ConfigStore(config).history()
    assert [(v.author, v.comment) for v in history[-2:]] == [("incident-admin", "admin user suspend alice"),
                                                            ("incident-admin", "admin user unsuspend alice")]
    (line,) = helpers.clean_failure(gridauth("admin", "user", "suspend", "zed", "--config", config),
                                    exit_code=4, one_line=True)
    assert line == "gridauth: error: unknown user 'zed'"


def test_sessions_list_refuses_a_database_that_is_not_initialised(tmp_path: Any, gridauth: Any,
                                                                   helpers: Any) -> None:
    missing = tmp_path / "none" / "state.sqlite"
    result = gridauth("admin", "sessions", "list", "--db", f"sqlite:///{missing}")
    (line,) = helpers.clean_failure(result, exit_code=8, one_line=True)
    assert "no such database file" in line and not missing.parent.exists()


def test_sessions_list_json_is_a_list_of_objects(service: Any, db_url: str, gridauth: Any) -> None:
    issue_grant(service)
    printed = gridauth("admin", "sessions", "list", "--json", "--db", db_url, ok=True).stdout
    rows = json.loads(printed)
    assert set(rows[0]) == {"kind", "id", "user", "client", "vo", "group", "idp", "issued_at", "expires_at",
                            "last_used_at", "address"}
