"""Dynamic client registration (RFC 7591 / 7592) under each ``ClientRegistration`` policy, on a real server.

A registry user's access token (from a grant of the example portal) is the initial access token of
the ``authenticated`` policy; the registered client then runs a device flow approved on the pages,
for its owner only, unless an administrator allowed groups. The registration access token reads,
changes and deletes the client; an idle client expires and the purge deletes it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from gridauth.config import cfgfile
from gridauth.db.models import RegisteredClientRow
from gridauth.hashing import token_digest

from .conftest import PORTAL, Browser, Reply, Service, http, issue_grant
from .test_dpop_resources import bound_access_token

POLICY = "/DIRAC/Security/Authorization/ClientRegistration"
DEVICE = "urn:ietf:params:oauth:grant-type:device_code"
AGENT = {"client_name": "oidc-agent:test", "token_endpoint_auth_method": "none",
         "grant_types": [DEVICE, "refresh_token"], "scope": "openid offline_access group:dteam_user"}


def set_policy(service: Service, policy: str) -> None:
    service.edit(lambda cfg: cfgfile.set_option(cfg, POLICY, policy))


def user_token(service: Service, username: str = "alice") -> str:
    """An access token of *username* (dteam_user), from a grant of the example portal."""
    scope = "openid profile group:dteam_user" if username != "carol" else "openid profile group:lhcb_user"
    reply = service.refresh(issue_grant(service, username, scope))
    assert reply.status == 200, reply.body
    return reply.body["access_token"]


def register(service: Service, metadata: dict[str, Any], token: str | None = None,
             headers: dict[str, str] | None = None) -> Reply:
    return http(service.url + "/register", json.dumps(metadata).encode(), bearer=token,
                headers={"Content-Type": "application/json", **(headers or {})})


def configure(service: Service, registered: dict[str, Any], method: str, token: str | None = None,
              body: dict[str, Any] | None = None) -> Reply:
    uri = registered["registration_client_uri"].replace("http://localhost:8080", service.url)
    return http(uri, json.dumps(body).encode() if body is not None else None, method=method,
                bearer=token or registered["registration_access_token"],
                headers={"Content-Type": "application/json"} if body is not None else None)


def device_login(service: Service, client_id: str, user: str, group: str = "dteam_user",
                 secret: str | None = None) -> Reply:
    """A device flow of *client_id* approved by *user* in *group*; the token answer."""
    auth = (client_id, secret) if secret else None
    ask = {"scope": "openid offline_access"} | ({} if secret else {"client_id": client_id})
    started = service.post("/device_authorization", ask, auth=auth)
    assert started.status == 200, started.body
    flow = started.body
    page = Browser(service).approve_device(flow["verification_uri_complete"].replace("http://localhost:8080",
                                                                                     service.url), user, group)
    assert "Device connected" in page, page
    service.clock.advance(5)
    poll = {"grant_type": DEVICE, "device_code": flow["device_code"]} | ({} if secret else {"client_id": client_id})
    return service.post("/token", poll, auth=auth)


def stored(service: Service, client_id: str) -> RegisteredClientRow | None:
    with service.context.db.transaction() as session:
        row = session.get(RegisteredClientRow, client_id)
        if row is not None:
            session.expunge(row)
        return row


def test_closed_by_default_not_advertised_and_refused(service):
    assert "registration_endpoint" not in service.get("/.well-known/openid-configuration").body
    refused = register(service, AGENT, user_token(service))
    assert refused.status == 403 and refused.body["error"] == "access_denied", refused.body
    assert service.count(RegisteredClientRow) == 0


def test_authenticated_registration_owned_by_the_user_and_limited_to_them(service, accounts):
    set_policy(service, "authenticated")
    meta = service.get("/.well-known/openid-configuration").body
    assert meta["registration_endpoint"] == "http://localhost:8080/register"

    anonymous = register(service, AGENT)
    assert anonymous.status == 401 and anonymous.body["error"] == "invalid_token", anonymous.body
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    client_token = service.post("/token", {"grant_type": "client_credentials"}, auth=("example-service",
                                                                                      "service-secret"))
    not_a_user = register(service, AGENT, client_token.body["access_token"])
    assert not_a_user.status == 401 and not_a_user.body["error"] == "invalid_token"
    assert register(service, AGENT, "not.a.token").status == 401

    reply = register(service, AGENT, user_token(service, "alice"))
    assert reply.status == 201, reply.body
    assert reply.headers["Cache-Control"] == "no-store"
    body = reply.body
    assert body["client_id"].startswith("reg-") and "client_secret" not in body  # a public client
    assert body["grant_types"] == [DEVICE, "refresh_token"] and body["token_endpoint_auth_method"] == "none"
    assert body["scope"] == "openid offline_access"  # the group scope needs no listing
    assert body["registration_client_uri"] == f"http://localhost:8080/register?client_id={body['client_id']}"
    row = stored(service, body["client_id"])
    assert row is not None and row.owner == "alice" and row.client_secret_hash is None
    assert row.registration_token_hash == token_digest(body["registration_access_token"])  # only the digest

    tokens = device_login(service, body["client_id"], "alice")
    assert tokens.status == 200, tokens.body
    assert service.introspect(tokens.body["access_token"])["client_id"] == body["client_id"]
    assert service.refresh(tokens.body["refresh_token"], client=(body["client_id"], None)).status == 200
    bob = device_login(service, body["client_id"], "bob")  # bob is in dteam_user, but the client is alice's
    assert bob.status == 400 and bob.body["error"] == "invalid_grant", bob.body


def test_a_confidential_registered_client_authenticates_with_its_secret(service, accounts):
    set_policy(service, "authenticated")
    reply = register(service, {**AGENT, "token_endpoint_auth_method": "client_secret_basic"}, user_token(service))
    assert reply.status == 201, reply.body
    client_id, secret = reply.body["client_id"], reply.body["client_secret"]
    assert reply.body["client_secret_expires_at"] == 0
    assert stored(service, client_id).client_secret_hash.startswith("sha256$")
    wrong = service.post("/device_authorization", {"scope": "openid"}, auth=(client_id, "wrong"))
    assert wrong.status == 401 and wrong.body["error"] == "invalid_client"
    assert device_login(service, client_id, "alice", secret=secret).status == 200


def test_an_administrator_widens_a_client_to_groups(service, accounts, gridauth):
    set_policy(service, "authenticated")
    client_id = register(service, AGENT, user_token(service)).body["client_id"]
    assert device_login(service, client_id, "bob").status == 400
    widened = gridauth("admin", "client", "registered", "groups", client_id, "--groups", "dteam_user",
                       "--config", service.config, "--db", service.context.db.url, ok=True)
    assert f"registered client {client_id}" in widened.stderr
    service.context.server.registered.forget(client_id)  # the command ran in another process: no cache to drop
    assert device_login(service, client_id, "bob").status == 200
    listed = gridauth("admin", "client", "list", "--json", "--config", service.config,
                      "--db", service.context.db.url, ok=True)
    (mine,) = [c for c in json.loads(listed.stdout) if c["client_id"] == client_id]
    assert (mine["registered"], mine["owner"], mine["groups"]) == (True, "alice", ["dteam_user"])
    assert any(c["client_id"] == PORTAL[0] and not c.get("registered") for c in json.loads(listed.stdout))
    gridauth("admin", "client", "registered", "remove", client_id, "--config", service.config,
             "--db", service.context.db.url, ok=True)
    assert stored(service, client_id) is None


def test_open_registration_needs_no_token(service, accounts):
    set_policy(service, "open")
    reply = register(service, AGENT)
    assert reply.status == 201, reply.body
    assert stored(service, reply.body["client_id"]).owner is None
    assert device_login(service, reply.body["client_id"], "bob").status == 200  # no owner: any user


@pytest.mark.parametrize(("metadata", "error"), [
    ({"grant_types": ["client_credentials"]}, "invalid_client_metadata"),
    ({"grant_types": ["password", "refresh_token"]}, "invalid_client_metadata"),
    ({"grant_types": ["refresh_token"]}, "invalid_client_metadata"),
    ({"grant_types": ["authorization_code"]}, "invalid_redirect_uri"),
    ({"grant_types": ["authorization_code"], "redirect_uris": ["http://evil.example.org/cb"]},
     "invalid_redirect_uri"),
    ({"grant_types": ["authorization_code"], "redirect_uris": ["https://portal.example.org/cb#x"]},
     "invalid_redirect_uri"),
    ({"scope": "openid admin"}, "invalid_client_metadata"),
    ({"token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata"),
    ({"grant_types": ["authorization_code"], "redirect_uris": [f"http://localhost:{p}" for p in range(4000, 4030)]},
     "invalid_client_metadata"),
])
def test_metadata_outside_the_limits_is_refused(service, metadata, error):
    set_policy(service, "open")
    reply = register(service, {**AGENT, **metadata})
    assert reply.status == 400 and reply.body["error"] == error, reply.body
    assert service.count(RegisteredClientRow) == 0


def test_not_json_is_invalid_request(service):
    set_policy(service, "open")
    reply = http(service.url + "/register", b"client_name=x",
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status == 400 and reply.body["error"] == "invalid_request"
    assert http(service.url + "/register", b"[1]", headers={"Content-Type": "application/json"}).status == 400


def test_code_flow_client_with_loopback_and_private_scheme_redirects(service):
    set_policy(service, "open")
    reply = register(service, {"client_name": "agent", "token_endpoint_auth_method": "none",
                               "grant_types": ["authorization_code", "refresh_token"],
                               "redirect_uris": ["http://localhost:4242", "edu.kit.data.oidc-agent:/redirect"]})
    assert reply.status == 201, reply.body
    assert reply.body["response_types"] == ["code"]


def test_registration_access_token_reads_changes_and_deletes(service, accounts):
    set_policy(service, "authenticated")
    registered = register(service, AGENT, user_token(service)).body
    read = configure(service, registered, "GET")
    assert read.status == 200 and read.body["client_name"] == "oidc-agent:test", read.body
    assert read.body["registration_access_token"] == registered["registration_access_token"]
    other = register(service, AGENT, user_token(service)).body
    wrong = configure(service, registered, "GET", token=other["registration_access_token"])
    assert wrong.status == 401 and wrong.body["error"] == "invalid_token"

    changed = configure(service, registered, "PUT", body={**AGENT, "client_id": registered["client_id"],
                                                         "client_name": "renamed"})
    assert changed.status == 200 and changed.body["client_name"] == "renamed", changed.body
    to_confidential = configure(service, registered, "PUT", body={**AGENT, "client_id": registered["client_id"],
                                                                 "token_endpoint_auth_method": "client_secret_basic"})
    assert to_confidential.status == 400 and to_confidential.body["error"] == "invalid_client_metadata"

    assert configure(service, registered, "DELETE").status == 204
    assert stored(service, registered["client_id"]) is None
    assert configure(service, registered, "GET").status == 401
    started = service.post("/device_authorization", {"client_id": registered["client_id"], "scope": "openid"})
    assert started.status == 401 and started.body["error"] == "invalid_client"


def test_an_idle_client_expires_and_is_purged(service, accounts):
    set_policy(service, "authenticated")
    service.edit(lambda cfg: cfgfile.set_option(cfg, "/DIRAC/Security/Authorization/RegisteredClientIdleTime",
                                                "7200"))
    client_id = register(service, AGENT, user_token(service)).body["client_id"]
    service.clock.advance(3700)
    service.context.server.registered.forget(client_id)
    assert device_login(service, client_id, "alice").status == 200  # used: its idle time starts again
    renewed = stored(service, client_id).expires_at  # from its use, a few (virtual) seconds ago
    assert service.clock.now() + 7200 - 30 <= renewed <= service.clock.now() + 7200
    service.clock.advance(7200)
    service.context.server.registered.forget(client_id)
    gone = service.post("/device_authorization", {"client_id": client_id, "scope": "openid"})
    assert gone.status == 401 and gone.body["error"] == "invalid_client"
    assert service.context.purge()["registered_clients"] == 1
    assert stored(service, client_id) is None


def test_a_stolen_refresh_token_of_a_public_registered_client_revokes_the_owners_grants(service, accounts):
    """RevokeOnTheft holds for registered public clients as for the CFG ones (oidc-agent's token files)."""
    set_policy(service, "authenticated")
    client = (register(service, AGENT, user_token(service)).body["client_id"], None)
    first = device_login(service, client[0], "alice").body
    second = device_login(service, client[0], "alice").body
    service.revoke(first["refresh_token"], client_id=client[0])
    assert service.refresh(first["refresh_token"], client=client).body["error"] == "invalid_grant"  # the "thief"
    assert service.refresh(second["refresh_token"], client=client).body["error"] == "invalid_grant"


def test_a_dpop_bound_initial_access_token_comes_with_its_proof(service):
    set_policy(service, "authenticated")
    token, holder = bound_access_token(service)
    url = "http://localhost:8080/register"
    as_bearer = register(service, AGENT, token)
    assert as_bearer.status == 401 and as_bearer.body["error"] == "invalid_token", as_bearer.body
    without_proof = register(service, AGENT, headers={"Authorization": f"DPoP {token}"})
    assert without_proof.status == 401, without_proof.body
    proof = holder.proof(url, "POST", access_token=token)
    reply = register(service, AGENT, headers={"Authorization": f"DPoP {token}", "DPoP": proof})
    assert reply.status == 201, reply.body
    assert stored(service, reply.body["client_id"]).owner == "alice"
