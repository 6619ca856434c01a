"""Token exchange (RFC 8693) over real HTTP: delegation chains, impersonation by policy, revocation, errors.

The exchanging services are the example configuration's confidential clients, given the grant and
a ``TokenExchange`` policy the administrators' way (``Service.edit``): ``example-service`` plays FTS,
``example-portal`` a second hop. The user's tokens come from a grant of the portal (``issue_grant``)
refreshed over HTTP.
"""

from __future__ import annotations

import base64
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from gridauth import audit
from gridauth.admin import edits
from gridauth.config import cfgfile
from gridauth.config.builder import load_text
from gridauth.errors import ConfigInvalid
from gridauth.oauth.scopes import ScopeRequest

from .conftest import PORTAL, SERVICE, issue_grant

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
REFRESH = "urn:ietf:params:oauth:token-type:refresh_token"
CLIENTS = "/DIRAC/Security/Authorization/Clients"
SCOPE = "openid profile vo:dteam group:dteam_user"


def allow(service, client: str = SERVICE[0], grants: str = "client_credentials", **policy: str) -> None:
    """Give *client* the token-exchange grant (besides *grants*) and the ``TokenExchange`` options *policy*."""
    def change(cfg: Any) -> None:
        cfgfile.set_option(cfg, f"{CLIENTS}/{client}/grant_types", f"{grants}, {EXCHANGE}")
        for name, value in policy.items():
            cfgfile.set_option(cfg, f"{CLIENTS}/{client}/TokenExchange/{name}", value)
    service.edit(change)


def user_token(service, **grant: str) -> tuple[str, str]:
    """(access token, refresh token) of a fresh grant of alice at the portal."""
    refresh_token = issue_grant(service, **grant)
    reply = service.refresh(refresh_token)
    assert reply.status == 200, reply.body
    return reply.body["access_token"], refresh_token


def exchange(service, subject: str, client: tuple[str, str] = SERVICE, **extra: str):
    """A token-exchange request by *client* for *subject* (an access token)."""
    return service.post("/token", {"grant_type": EXCHANGE, "subject_token": subject, "subject_token_type": ACCESS,
                                   **extra}, auth=client)


def claims(token: str) -> dict[str, Any]:
    """The payload of a JWT (its signature is the introspection's business)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def refused(reply: Any, error: str) -> str:
    """The description of a refusal with *error* (RFC 6749 §5.2 JSON)."""
    assert (reply.status, reply.body.get("error")) == (401 if error == "invalid_client" else 400, error), reply.body
    assert reply.headers["Cache-Control"] == "no-store"
    return reply.body.get("error_description", "")


def test_delegation_gives_the_users_token_acted_by_the_client(service):
    allow(service)
    subject, _ = user_token(service)
    reply = exchange(service, subject)
    assert reply.status == 200, reply.body
    body = reply.body
    assert body["issued_token_type"] == ACCESS
    assert body["token_type"] == "Bearer"
    assert body["scope"] == SCOPE
    assert "refresh_token" not in body
    new, old = claims(body["access_token"]), claims(subject)
    assert (new["sub"], new["client_id"], new["dirac_group"], new["vo"]) == ("alice", SERVICE[0], "dteam_user", "dteam")
    assert new["act"] == {"sub": SERVICE[0]}
    assert new["dirac_properties"] == old["dirac_properties"]
    assert new["exp"] <= old["exp"] and body["expires_in"] == new["exp"] - new["iat"]
    info = service.introspect(body["access_token"])
    assert (info["active"], info["sub"], info["client_id"]) == (True, "alice", SERVICE[0])


def test_delegation_twice_nests_the_actors(service):
    allow(service)
    allow(service, client=PORTAL[0], grants="authorization_code, refresh_token")
    subject, _ = user_token(service)
    first = exchange(service, subject).body["access_token"]
    second = exchange(service, first, client=PORTAL).body
    assert claims(second["access_token"])["act"] == {"sub": PORTAL[0], "act": {"sub": SERVICE[0]}}
    assert claims(second["access_token"])["sub"] == "alice"
    assert service.introspect(second["access_token"])["active"] is True


def test_impersonation_only_where_the_policy_allows_it(service):
    allow(service)
    subject, _ = user_token(service)
    assert "act" in claims(exchange(service, subject).body["access_token"])  # the default: delegation

    allow(service, Impersonation="yes")
    impersonated = exchange(service, subject).body["access_token"]
    assert "act" not in claims(impersonated) and claims(impersonated)["sub"] == "alice"
    # an actor token asks for delegation, even where impersonation is allowed
    own = service.post("/token", {"grant_type": "client_credentials"}, auth=SERVICE).body["access_token"]
    acted = exchange(service, subject, actor_token=own, actor_token_type=ACCESS)
    assert claims(acted.body["access_token"])["act"] == {"sub": SERVICE[0]}

    # a delegated token is never impersonated: its actors would vanish
    allow(service, client=PORTAL[0], grants="authorization_code, refresh_token")
    delegated = exchange(service, subject, client=PORTAL).body["access_token"]
    assert "impersonation would hide its actors" in refused(exchange(service, delegated), "invalid_request")


def test_revoking_the_users_grant_ends_everything_exchanged_from_it(service):
    allow(service, grants="client_credentials, refresh_token", RefreshTokens="yes")
    allow(service, client=PORTAL[0], grants="authorization_code, refresh_token", RefreshTokens="yes")
    subject, user_refresh = user_token(service)
    plain = exchange(service, subject).body
    linked = exchange(service, subject, requested_token_type=REFRESH).body
    assert linked["issued_token_type"] == REFRESH and linked["refresh_token"]
    assert claims(linked["access_token"])["act"] == {"sub": SERVICE[0]}
    # the second hop exchanges the service's token for a grant of its own, linked in turn
    hop = exchange(service, linked["access_token"], client=PORTAL, requested_token_type=REFRESH).body
    refreshed = service.refresh(linked["refresh_token"], client=SERVICE)
    assert refreshed.status == 200, refreshed.body
    assert claims(refreshed.body["access_token"])["act"] == {"sub": SERVICE[0]}  # refreshes keep the actor
    hop_refreshed = service.refresh(hop["refresh_token"], client=PORTAL).body["access_token"]
    assert claims(hop_refreshed)["act"] == {"sub": PORTAL[0], "act": {"sub": SERVICE[0]}}
    tokens = [plain["access_token"], hop_refreshed, refreshed.body["access_token"], linked["refresh_token"],
              hop["refresh_token"]]
    assert all(service.introspect(token)["active"] for token in tokens)

    assert service.post("/revoke", {"token": user_refresh}, auth=PORTAL).status == 200
    assert [service.introspect(token)["active"] for token in tokens] == [False] * len(tokens)
    assert "revoked" in refused(service.refresh(linked["refresh_token"], client=SERVICE), "invalid_grant")
    assert "revoked" in refused(service.refresh(hop["refresh_token"], client=PORTAL), "invalid_grant")
    assert "not an active access token" in refused(exchange(service, subject), "invalid_request")


def test_a_refresh_of_the_users_grant_ends_the_exchanged_access_token(service):
    allow(service)
    subject, user_refresh = user_token(service)
    exchanged = exchange(service, subject).body["access_token"]
    assert service.refresh(user_refresh).status == 200
    assert service.introspect(exchanged) == {"active": False}


def test_an_exchanged_access_token_expires_with_the_subject_token(service):
    allow(service)
    subject, _ = user_token(service)
    service.clock.advance(claims(subject)["exp"] - service.clock.now() - 100)
    reply = exchange(service, subject).body
    assert 0 < reply["expires_in"] <= 100
    assert claims(reply["access_token"])["exp"] <= claims(subject)["exp"]
    service.clock.advance(101)
    assert "not an active access token" in refused(exchange(service, subject), "invalid_request")


def test_an_exchanged_refresh_token_never_outlives_the_users_grant(service):
    allow(service, grants="client_credentials, refresh_token", RefreshTokens="yes", RefreshTokenLifetime="86400")
    subject, user_refresh = user_token(service)
    user_left = service.introspect(user_refresh)["exp"] - service.clock.now()
    linked = exchange(service, subject, requested_token_type=REFRESH).body
    assert user_left - 2 <= linked["refresh_expires_in"] <= user_left
    assert service.introspect(linked["refresh_token"])["exp"] <= service.introspect(user_refresh)["exp"]
    service.clock.advance(user_left - 300)
    near_end = service.refresh(linked["refresh_token"], client=SERVICE).body
    assert near_end["expires_in"] <= 300  # its access tokens end with the grant too
    service.clock.advance(301)
    assert "expired" in refused(service.refresh(linked["refresh_token"], client=SERVICE), "invalid_grant")


def test_the_policy_decides_refresh_tokens_groups_scopes_and_audiences(service):
    allow(service)
    subject, _ = user_token(service)
    assert "refresh tokens" in refused(exchange(service, subject, requested_token_type=REFRESH), "invalid_request")

    allow(service, Groups="dteam_admin")
    assert "group 'dteam_user'" in refused(exchange(service, subject), "invalid_request")

    allow(service, Scopes="openid")  # Groups stays: the edit only adds
    service.edit(lambda cfg: cfgfile.delete(cfg, f"{CLIENTS}/{SERVICE[0]}/TokenExchange/Groups"))
    assert exchange(service, subject).body["scope"] == "openid vo:dteam group:dteam_user"
    assert "may not carry profile" in refused(exchange(service, subject, scope="openid profile"), "invalid_scope")

    assert refused(exchange(service, subject, audience="https://storage.example.org"), "invalid_target")
    allow(service, Audiences="https://storage.example.org")
    reply = exchange(service, subject, audience="https://storage.example.org")
    assert claims(reply.body["access_token"])["aud"] == "https://storage.example.org"


def test_never_more_than_the_subject_token_had(service):
    allow(service)
    subject, _ = user_token(service, scope="openid group:dteam_user")
    assert exchange(service, subject, scope="openid").status == 200
    for scope, reason in (("openid profile", "may not carry"), ("g:dteam_admin", "cannot change the group"),
                          ("vo:lhcb", "cannot change the VO"), ("property:ServiceAdministrator", "narrow")):
        assert reason in refused(exchange(service, subject, scope=scope), "invalid_scope"), scope

    # properties: narrowed ones stay narrowed, a property the group gained since is not added
    narrow, _ = user_token(service, scope="openid group:dteam_admin property:NormalUser")
    got = claims(exchange(service, narrow).body["access_token"])
    assert got["dirac_properties"] == ["NormalUser"]
    assert ScopeRequest.parse(got["scope"]).properties == ("NormalUser",)


def test_the_users_membership_is_checked_again(service):
    allow(service)
    subject, _ = user_token(service)
    service.edit(lambda cfg: edits.group_modify(cfg, "dteam_user", remove_users=["alice"]))
    assert "no longer a member" in refused(exchange(service, subject), "invalid_request")


@pytest.mark.parametrize(("data", "error", "reason"), [
    ({"subject_token_type": None}, "invalid_request", "missing subject_token"),
    ({"subject_token_type": "urn:ietf:params:oauth:token-type:id_token"}, "invalid_request", "access_token only"),
    ({"subject_token": "not-a-token"}, "invalid_request", "not an active access token"),
    ({"requested_token_type": "urn:ietf:params:oauth:token-type:jwt"}, "invalid_request", "is not issued here"),
    ({"actor_token": "x"}, "invalid_request", "go together"),
])
def test_malformed_requests_are_invalid_request(service, data, error, reason):
    allow(service)
    subject, _ = user_token(service)
    request = {"grant_type": EXCHANGE, "subject_token": subject, "subject_token_type": ACCESS}
    request.update(data)
    reply = service.post("/token", {k: v for k, v in request.items() if v is not None}, auth=SERVICE)
    assert reason in refused(reply, error)


def test_tokens_that_are_not_the_clients_to_exchange(service):
    allow(service)
    subject, _ = user_token(service)
    own = service.post("/token", {"grant_type": "client_credentials"}, auth=SERVICE).body["access_token"]
    assert "not a user's" in refused(exchange(service, own), "invalid_request")
    portal_own = service.post("/token", {"grant_type": "client_credentials"}, auth=SERVICE).body["access_token"]
    allow(service, client=PORTAL[0], grants="authorization_code, refresh_token")
    assert "client's own token" in refused(
        exchange(service, subject, client=PORTAL, actor_token=portal_own, actor_token_type=ACCESS), "invalid_request")
    # a token narrowed to another service is that service's, not this client's
    service.edit(lambda cfg: cfgfile.set_option(cfg, f"{CLIENTS}/{PORTAL[0]}/Audiences", "https://other.example"))
    rt = issue_grant(service)
    elsewhere = service.refresh(rt, audience="https://other.example").body["access_token"]
    assert "meant for other services" in refused(exchange(service, elsewhere), "invalid_request")


def test_clients_without_the_grant_may_not_exchange(service):
    subject, _ = user_token(service)
    assert refused(exchange(service, subject), "unauthorized_client")
    public = service.post("/token", {"grant_type": EXCHANGE, "subject_token": subject, "subject_token_type": ACCESS,
                                     "client_id": "gridauth-cli"})
    refused(public, "invalid_client")


def test_discovery_advertises_the_grant(service):
    assert EXCHANGE in service.get("/.well-known/openid-configuration").body["grant_types_supported"]


def test_exchanges_are_audited(service, tmp_path: Path):
    path = tmp_path / "audit.jsonl"
    audit.configure(str(path))
    try:
        allow(service)
        subject, _ = user_token(service)
        assert exchange(service, subject).status == 200
        exchange(service, subject, scope="g:dteam_admin")
        allow(service, grants="client_credentials, refresh_token", RefreshTokens="yes")
        subject, user_refresh = user_token(service)
        linked = exchange(service, subject, requested_token_type=REFRESH).body["refresh_token"]
        assert service.post("/revoke", {"token": user_refresh}, auth=PORTAL).status == 200
        refused(service.refresh(linked, client=SERVICE), "invalid_grant")  # expected by the service: no theft
    finally:
        audit.configure(None)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    done, _ = [r for r in records if r["event"] == "token_exchanged"]
    assert {k: done[k] for k in ("outcome", "user", "group", "client", "kind")} == {
        "outcome": "success", "user": "alice", "group": "dteam_user", "client": SERVICE[0], "kind": "delegation"}
    (no,) = [r for r in records if r["event"] == "token_refused" and r.get("grant_type") == EXCHANGE]
    assert (no["error"], no["client"]) == ("invalid_scope", SERVICE[0])
    assert subject not in path.read_text()
    assert not [r for r in records if r["event"] == "token_theft_suspected"], json.dumps(records)


@pytest.mark.parametrize(("options", "where", "reason"), [
    ({"token_endpoint_auth_method": "none", "client_secret": ""}, "grant_types", "public client cannot exchange"),
    ({"TokenExchange/RefreshTokens": "yes"}, "TokenExchange/RefreshTokens", "needs refresh_token"),
    ({"TokenExchange/RefreshTokenLifetime": "3600"}, "TokenExchange/RefreshTokenLifetime", "RefreshTokens is not"),
    ({"TokenExchange/Groups": "nobody"}, "TokenExchange/Groups", "unknown group 'nobody'"),
    ({"TokenExchange/Scopes": "g:dteam_user"}, "TokenExchange/Scopes", "come from the subject token"),
    ({"TokenExchange/Impersonation": "maybe"}, "TokenExchange/Impersonation", "expected yes or no"),
    ({"TokenExchange/Lifetime": "1"}, "TokenExchange/Lifetime", "unknown option"),
])
def test_the_policy_is_validated(config_file: Path, options: dict[str, str], where: str, reason: str):
    cfg = cfgfile.parse(config_file.read_text())
    cfgfile.set_option(cfg, f"{CLIENTS}/{SERVICE[0]}/grant_types", f"client_credentials, {EXCHANGE}")
    for name, value in options.items():
        if value:
            cfgfile.set_option(cfg, f"{CLIENTS}/{SERVICE[0]}/{name}", value)
        else:
            cfgfile.delete(cfg, f"{CLIENTS}/{SERVICE[0]}/{name}")
    with pytest.raises(ConfigInvalid) as caught:
        load_text(cfgfile.serialize(cfg))
    found = [issue for issue in caught.value.issues if issue.where == f"{CLIENTS}/{SERVICE[0]}/{where}"]
    assert any(reason in issue.reason for issue in found), caught.value.issues


def test_an_exchange_racing_the_revocation_leaves_nothing_active(service):
    """Exchanges for refresh tokens sent while the user's grant is revoked: each one made before the revocation
    is revoked with it, and none made after it exists (the parent's row lock orders the two)."""
    allow(service, grants="client_credentials, refresh_token", RefreshTokens="yes")
    subject, user_refresh = user_token(service)
    start = threading.Barrier(9)

    def exchange_one(_: int) -> Any:
        start.wait()
        return exchange(service, subject, requested_token_type=REFRESH)

    def revoke() -> int:
        start.wait()
        return service.post("/revoke", {"token": user_refresh}, auth=PORTAL).status

    with ThreadPoolExecutor(max_workers=9) as pool:
        revoked = pool.submit(revoke)
        replies = list(pool.map(exchange_one, range(8)))
    assert revoked.result() == 200
    issued = [reply.body["refresh_token"] for reply in replies if reply.status == 200]
    assert all(reply.body["error"] == "invalid_request" for reply in replies if reply.status != 200)
    assert [service.introspect(token)["active"] for token in issued] == [False] * len(issued)
