"""Sessions and suspension through the admin API on a real server and database (``web/admin_sessions.py``).

The grants and alice's SSO session are those of ``test_sessions.py``'s ``grants`` fixture. The
administrators act with real access tokens from grants of their own made with another identity
provider name (``admin-idp``), so that the selectors of ``test_sessions.py`` match the same sessions:
ops in a ``cs_admin`` group (``CSAdministrator``) administers everything, carol in ``lhcb_user`` is
lhcb's VOAdmin, bob in ``dteam_user`` administers nothing.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from gridauth import audit
from gridauth.config import cfgfile

from .conftest import PORTAL, issue_grant
from .test_admin_api import call
from .test_sessions import (
    LATER,
    REVOCATIONS,
    Grants,
    _listed,
    _names,
    grants,  # noqa: F401 - the fixture, used by made()
)

ADMIN_IDP = "admin-idp"


def admin_token(service: Any, user: str, group: str) -> str:
    """An access token of *user* in *group*, from a grant of the ``admin-idp`` (outside the test's selectors)."""
    reply = service.refresh(issue_grant(service, user, f"openid group:{group}", idp=ADMIN_IDP), PORTAL)
    assert reply.status == 200, reply.body
    return reply.body["access_token"]


@pytest.fixture
def ops(service: Any) -> str:
    """A configuration administrator's token: ops, in a new CSAdministrator group of dteam."""
    def change(cfg: Any) -> None:
        cfgfile.set_option(cfg, "/Registry/Users/ops/DN", "/DC=org/DC=example/CN=Ops")
        for option, value in (("Users", "ops"), ("VO", "dteam"), ("Properties", "CSAdministrator")):
            cfgfile.set_option(cfg, f"/Registry/Groups/cs_admin/{option}", value)
    service.edit(change)
    return admin_token(service, "ops", "cs_admin")


@pytest.fixture
def made(grants: Grants) -> Grants:  # noqa: F811 - the fixture imported above
    """The grants and SSO session of ``test_sessions.py``."""
    return grants


def refused_afterwards(service: Any, made: Grants, name: str) -> bool:
    """Whether grant *name*'s refresh token is refused (and its access token no longer active)."""
    client = ("oidc-agent", None) if name.endswith("_cli") else PORTAL
    reply = service.refresh(made.tokens[name], client)
    if reply.status == 200:
        return False
    assert reply.body["error"] == "invalid_grant", reply.body
    assert service.introspect(made.access[name]) == {"active": False}
    return True


def test_listing_by_each_selector_is_the_command_lines(service: Any, made: Grants, ops: str) -> None:
    selectors = [{}, {"user": "alice"}, {"client": "oidc-agent"}, {"vo": "lhcb"}, {"group": "dteam_user"},
                 {"idp": "local"}, {"idp": "EGI"}, {"user": "alice", "client": "example-portal"}, {"user": "nobody"}]
    for selector in selectors:
        query = "&".join(f"{k}={v}" for k, v in selector.items())
        reply = call(service, "GET", f"/sessions?{query}", ops)
        assert reply.status == 200, reply.body
        assert reply.headers["Cache-Control"] == "no-store"
        expected = [dataclasses.asdict(row) for row in _listed(service, **selector) if row.idp != ADMIN_IDP]
        items = [item for item in reply.body["items"] if item["idp"] != ADMIN_IDP]
        assert items == expected, selector  # the fields and epoch-second times of 'sessions list --json'
        assert reply.body["selector"] == selector
    row = next(i for i in call(service, "GET", "/sessions?user=alice", ops).body["items"] if i["kind"] == "grant")
    assert isinstance(row["issued_at"], int) and isinstance(row["expires_at"], int)
    assert call(service, "GET", "/sessions?user=", ops).status == 200  # an empty form field selects nothing
    for bad in ("/sessions?colour=red", "/sessions?grant=x", f"/sessions?user={'x' * 300}"):
        reply = call(service, "GET", bad, ops)
        assert (reply.status, reply.body["error"]) == (400, "invalid_edit"), bad


@pytest.mark.parametrize("case", REVOCATIONS)
def test_revocation_by_each_selector_refuses_the_refresh_tokens_afterwards(service: Any, made: Grants, ops: str,
                                                                          case: str, tmp_path: Path) -> None:
    selector, ended, count = REVOCATIONS[case]
    log = tmp_path / "audit.jsonl"
    audit.configure(str(log))
    try:
        reply = call(service, "POST", "/sessions/revoke", ops, selector(made))
    finally:
        audit.configure(None)
    assert reply.status == 200, reply.body
    assert reply.body == {"count": count, "selector": selector(made)}
    for name in made.tokens:
        assert refused_afterwards(service, made, name) == (name in ended), name
    assert not _names(made, [r for r in _listed(service) if r.idp != ADMIN_IDP]) & ended
    (line,) = [json.loads(x) for x in log.read_text().splitlines() if '"sessions_revoked"' in x]
    assert line["author"] == "ops" and line["count"] == count  # the registry user, not the server's login


def test_issued_before_as_iso_time_and_bad_revocations(service: Any, made: Grants, ops: str) -> None:
    for body in ({}, {"user": "alice", "vo": "dteam"}, {"colour": "red"}, {"issued_before": "yesterday"},
                 {"user": ""}, {"issued_before": True}, {"user": 5}):
        reply = call(service, "POST", "/sessions/revoke", ops, body)
        assert (reply.status, reply.body["error"]) == (400, "invalid_edit"), (body, reply.body)
    assert call(service, "POST", "/sessions/revoke", ops, {}).body["error_description"] == (
        "name exactly one of grant, user, client, vo, idp, issued_before (given: none)")
    assert len([r for r in _listed(service) if r.idp != ADMIN_IDP]) == 5  # nothing revoked
    cutoff = datetime.fromtimestamp(made.first + LATER // 2, timezone.utc).isoformat()
    reply = call(service, "POST", "/sessions/revoke", ops, {"issued_before": cutoff})
    assert reply.body == {"count": 3, "selector": {"issued_before": made.first + LATER // 2}}


def test_vo_administrator_lists_and_revokes_their_vo_only(service: Any, made: Grants, ops: str) -> None:
    carol = admin_token(service, "carol", "lhcb_user")  # lhcb's VOAdmin
    listed = call(service, "GET", "/sessions", carol).body
    assert listed["selector"] == {"vo": "lhcb"}
    assert {i["kind"] for i in listed["items"]} == {"grant"} and {i["vo"] for i in listed["items"]} == {"lhcb"}
    assert _names(made, [r for r in _listed(service, vo="lhcb") if r.idp != ADMIN_IDP]) == {
        "carol_portal", "alice_cli"}
    assert call(service, "GET", "/sessions?user=alice", carol).body["selector"] == {"user": "alice", "vo": "lhcb"}
    for method, path, body in (("GET", "/sessions?vo=dteam", None),
                               ("POST", "/sessions/revoke", {"vo": "dteam"}),
                               ("POST", "/sessions/revoke", {"grant": made.ids["bob_cli"]})):
        reply = call(service, method, path, carol, body)
        assert (reply.status, reply.body["error"]) == (403, "forbidden"), (path, body, reply.body)
    assert not any(refused_afterwards(service, made, name) for name in made.tokens)
    # alice's dteam grant and her SSO session are not lhcb's: only her lhcb grant ends
    reply = call(service, "POST", "/sessions/revoke", carol, {"user": "alice"})
    assert reply.body == {"count": 1, "selector": {"user": "alice", "vo": "lhcb"}}
    assert [n for n in made.tokens if refused_afterwards(service, made, n)] == ["alice_cli"]
    assert {r.user for r in _listed(service, user="alice") if r.kind == "sso"} == {"alice"}
    # "issued before" is lhcb's grants issued before then; a grant of lhcb by its id
    assert call(service, "POST", "/sessions/revoke", carol, {"issued_before": made.first + LATER // 2}).body[
        "count"] == 0
    assert call(service, "POST", "/sessions/revoke", carol, {"grant": made.ids["carol_portal"]}).body["count"] == 1
    # a normal user administers nothing; no token is the RFC 6750 challenge
    bob = admin_token(service, "bob", "dteam_user")
    for method, path, body in (("GET", "/sessions", None), ("POST", "/sessions/revoke", {"user": "alice"})):
        assert call(service, method, path, bob, body).status == 403
        bare = call(service, method, path, None, body)
        assert bare.status == 401 and bare.headers["WWW-Authenticate"].startswith("Bearer")
    assert refused_afterwards(service, made, "alice_portal") is False


def test_suspension_through_the_api_and_its_lifting(service: Any, ops: str) -> None:
    token = issue_grant(service, "bob")
    access = service.refresh(token).body["access_token"]
    reply = call(service, "POST", "/users/bob/suspend", ops, {"comment": "incident 42"})
    assert reply.status == 200 and reply.body["version"]["author"] == "ops", reply.body
    assert reply.body["version"]["comment"] == "incident 42"
    assert service.context.registry.user("bob").suspended
    refused = service.refresh(token)
    assert (refused.status, refused.body["error_description"]) == (400, "user 'bob' is suspended")
    assert service.introspect(access) == {"active": False}
    again = call(service, "POST", "/users/bob/unsuspend", ops)
    assert again.status == 200 and again.body["version"]["comment"] == "admin user unsuspend bob"
    assert service.introspect(access)["active"] is True  # the same grant: nothing was lost
    assert service.refresh(token).status == 200
    assert call(service, "POST", "/users/zed/suspend", ops).status == 404
    # lhcb's VO administrator: a user wholly in lhcb, not one also in dteam
    carol = admin_token(service, "carol", "lhcb_user")
    assert call(service, "POST", "/users", ops, {"name": "dave", "groups": ["lhcb_user"]}).status == 201
    assert call(service, "POST", "/users/dave/suspend", carol).status == 200
    assert service.context.registry.user("dave").suspended
    for name in ("alice", "bob"):
        reply = call(service, "POST", f"/users/{name}/suspend", carol)
        assert (reply.status, reply.body["error"]) == (403, "forbidden"), name
    assert call(service, "POST", "/users/dave/unsuspend", carol).status == 200
    assert not service.context.registry.user("dave").suspended
