"""Capability policies: a group's ``Capabilities`` grant path prefixes; what is not granted is left out.

The example configuration gets ``dteam_user: storage.read:/dteam, storage.create:/dteam/user,
compute.read`` and ``dteam_admin: storage.modify:/dteam``; the portal's list allows every capability
(a client that lists scopes must list capabilities too). The policy is checked at every
issuance: code exchange, device flow, refresh, client credentials (where the client's own list is
the policy).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from .conftest import PORTAL, SERVICE, Browser, Service, issue_grant
from .test_code_flow import PORTAL_CB, authorize_url, login_and_get_code
from .test_device_flow import approve, poll, start

GROUPS = "Registry/Groups"
CLIENTS = "DIRAC/Security/Authorization/Clients"


@pytest.fixture
def service(config_file: Path, db_url: str) -> Iterator[Service]:
    """The example configuration with capability policies for the dteam groups; the portal may ask for any."""
    text = config_file.read_text()
    portal = ("post_logout_redirect_uris = http://localhost:8081/\n"
              "          scope = openid, profile, email, offline_access")
    assert portal in text
    text = text.replace(portal, portal + ", storage.read:/, storage.create:/, storage.modify:/, compute.read, "
                        "compute.create")
    text = text.replace("      VOMSRole = /dteam\n", "      VOMSRole = /dteam\n"
                        "      Capabilities = storage.read:/dteam, storage.create:/dteam/user, compute.read\n")
    text = text.replace("      VOMSRole = /dteam/admin\n", "      VOMSRole = /dteam/admin\n"
                        "      Capabilities = storage.modify:/dteam\n")
    config_file.write_text(text)
    svc = Service(config_file, db_url)
    yield svc
    svc.stop()


def claims_of(service: Service, token: str) -> dict:
    return dict(jwt.decode(token, KeySet.import_key_set(service.get("/jwks").body)).claims)


def capabilities(scope: str) -> list[str]:
    return [item for item in scope.split() if item.startswith(("storage.", "compute."))]


def refresh_with(service: Service, scope: str, user: str = "alice", **extra: str):
    return service.refresh(issue_grant(service, user, scope), **extra)


def granted(reply) -> list[str]:
    """The capabilities of a token response: its ``scope``, which must be the access token's too."""
    assert reply.status == 200, reply.body
    return capabilities(reply.body["scope"])


def test_a_policy_grants_its_paths_and_the_paths_below(service):
    reply = refresh_with(service, "openid storage.read:/dteam storage.read:/dteam/data/run1 "
                                  "storage.create:/dteam/user/alice compute.read group:dteam_user")
    assert granted(reply) == ["storage.read:/dteam", "storage.read:/dteam/data/run1",
                              "storage.create:/dteam/user/alice", "compute.read"]
    assert capabilities(claims_of(service, reply.body["access_token"])["scope"]) == granted(reply)


def test_a_wider_path_or_a_capability_not_granted_is_left_out_of_the_token_and_the_scope(service):
    # the issue's example: a NormalUser asking for the whole storage, someone's home and job submission
    reply = refresh_with(service, "openid storage.read:/ storage.modify:/home compute.create storage.read:/dteam/data "
                                  "group:dteam_user")
    assert granted(reply) == ["storage.read:/dteam/data"]
    claims = claims_of(service, reply.body["access_token"])
    assert claims["scope"] == reply.body["scope"] and "storage.read:/ " not in claims["scope"] + " "


def test_nothing_granted_of_the_capabilities_asked_is_invalid_scope(service):
    reply = refresh_with(service, "openid storage.read:/ storage.modify:/dteam compute.create group:dteam_user")
    assert reply.status == 400 and reply.body["error"] == "invalid_scope", reply.body
    assert "storage.modify:/dteam" in reply.body["error_description"]


def test_another_group_has_its_own_policy(service):
    reply = refresh_with(service, "openid storage.modify:/dteam/data storage.read:/dteam group:dteam_admin")
    assert granted(reply) == ["storage.modify:/dteam/data"]


@pytest.mark.parametrize("asked", [
    "storage.read:/dteam/../atlas", "storage.read:/dteam/%2e%2e/atlas", "storage.read:/dteam/%2E%2E/%2e%2e/atlas",
    "storage.read:/dteam/./../../atlas", "storage.read:/dteamx", "storage.read:/dteam/..",
    "storage.create:/dteam/user/../../dteam", "storage.create:/dteam/user/..", "storage.read:/../dteam/../..",
])
def test_path_traversal_does_not_leave_a_granted_prefix(service, asked):
    reply = refresh_with(service, f"openid {asked} group:dteam_user")
    assert reply.status == 400 and reply.body["error"] == "invalid_scope", reply.body


@pytest.mark.parametrize(("asked", "normalised"), [
    ("storage.read://dteam//data/", "storage.read:/dteam/data"),
    ("storage.read:/dteam/x/../data/./run", "storage.read:/dteam/data/run"),
    ("storage.read:/dteam/", "storage.read:/dteam"),
    ("storage.read:/dte%61m/%7Ealice", "storage.read:/dteam/~alice"),
    ("storage.create:/dteam/user/a%2Fb", "storage.create:/dteam/user/a%2Fb"),
])
def test_paths_are_normalised_before_matching_and_in_the_token(service, asked, normalised):
    reply = refresh_with(service, f"openid {asked} group:dteam_user")
    assert granted(reply) == [normalised]


@pytest.mark.parametrize("asked", ["storage.read", "storage.read:dteam", "storage.read:/dteam?x=1",
                                   "storage.read:/dteam#x", "storage.read:/dt eam"])
def test_a_malformed_capability_is_invalid_scope_at_once(service, asked):
    reply = service.post("/device_authorization", {"client_id": "gridauth-cli", "scope": f"openid {asked}"})
    assert reply.status == 400 and reply.body["error"] == "invalid_scope", reply.body


def test_refresh_follows_the_policy_as_it_is_now(service):
    token = issue_grant(service, "alice", "openid storage.read:/dteam/data storage.create:/dteam/user group:dteam_user")
    assert granted(service.refresh(token)) == ["storage.read:/dteam/data", "storage.create:/dteam/user"]
    service.edit(lambda cfg: cfg.setOption(f"{GROUPS}/dteam_user/Capabilities", "storage.read:/dteam"))
    assert granted(service.refresh(token)) == ["storage.read:/dteam/data"]
    service.edit(lambda cfg: cfg.setOption(f"{GROUPS}/dteam_user/Capabilities", "storage.read:/dteam/mc"))
    refused = service.refresh(token)
    assert refused.status == 400 and refused.body["error"] == "invalid_scope", refused.body
    service.edit(lambda cfg: cfg.setOption(f"{GROUPS}/dteam_user/Capabilities", "storage.read:/, storage.create:/"))
    assert granted(service.refresh(token)) == ["storage.read:/dteam/data", "storage.create:/dteam/user"]  # never wider


def test_a_refresh_may_narrow_a_capability_to_a_sub_path_never_widen_it(service):
    token = issue_grant(service, "alice", "openid storage.read:/dteam/data group:dteam_user")
    narrower = service.refresh(token, scope="openid storage.read:/dteam/data/run1 group:dteam_user")
    assert granted(narrower) == ["storage.read:/dteam/data/run1"]
    for wider in ("openid storage.read:/dteam group:dteam_user", "openid storage.read:/dteam/data/../mc",
                  "openid storage.create:/dteam/user group:dteam_user"):
        reply = service.refresh(token, scope=wider)
        assert reply.status == 400 and reply.body["error"] == "invalid_scope", (wider, reply.body)


def test_the_client_scope_list_uses_the_prefix_rule_and_needs_no_grid_parameters(service):
    service.edit(lambda cfg: cfg.setOption(f"{CLIENTS}/example-portal/scope",
                                           "openid, profile, offline_access, storage.read:/"))
    reply = refresh_with(service, "openid storage.read:/dteam/data storage.create:/dteam/user group:dteam_user")
    assert granted(reply) == ["storage.read:/dteam/data"]  # storage.create is not in the client's list
    # the grid's parameter scopes need no listing; an ordinary scope does
    flow = service.post("/device_authorization", {
        "client_id": "gridauth-cli",
        "scope": "openid wlcg wlcg.groups:/dteam/dteam_user lifetime:300 g:dteam_user vo:dteam storage.read:/dteam"})
    assert flow.status == 200, flow.body
    unlisted = service.post("/device_authorization", {"client_id": "gridauth-cli", "scope": "openid storage"})
    assert unlisted.status == 400 and unlisted.body["error"] == "invalid_scope"


def test_a_client_token_gets_what_the_client_list_covers(service):
    ask = {"grant_type": "client_credentials"}
    none = service.post("/token", {**ask, "scope": "storage.read:/dteam"}, auth=SERVICE)
    assert none.status == 400 and none.body["error"] == "invalid_scope", none.body  # the service lists none
    service.edit(lambda cfg: cfg.setOption(f"{CLIENTS}/example-service/scope", "storage.read:/dteam, compute.read"))
    reply = service.post("/token", {**ask, "scope": "storage.read:/dteam/data storage.read:/atlas compute.read"},
                         auth=SERVICE)
    assert granted(reply) == ["storage.read:/dteam/data", "compute.read"]


def test_the_code_flow_applies_the_policy_at_the_exchange(service, accounts):
    query = login_and_get_code(Browser(service), authorize_url(
        scope="openid storage.read:/dteam/data storage.modify:/dteam g:dteam_user"))
    reply = service.post("/token", {"grant_type": "authorization_code", "code": query["code"][0],
                                    "redirect_uri": PORTAL_CB}, auth=PORTAL)
    assert granted(reply) == ["storage.read:/dteam/data"]
    assert capabilities(service.refresh(reply.body["refresh_token"]).body["scope"]) == ["storage.read:/dteam/data"]


def test_the_device_flow_applies_the_policy(service, accounts):
    def allow(cfg):  # a client list with a capability; polled here without DPoP proofs
        cfg.setOption(f"{CLIENTS}/gridauth-cli/scope", "openid, offline_access, storage.read:/")
        cfg.setOption(f"{CLIENTS}/gridauth-cli/DPoP", "allowed")

    service.edit(allow)
    flow = start(service, "openid offline_access storage.read:/dteam/data storage.read:/atlas")
    approve(Browser(service), flow)
    assert granted(poll(service, flow["device_code"])) == ["storage.read:/dteam/data"]


def test_authorize_refuses_a_malformed_capability_back_to_the_client(service):
    status, _, location = Browser(service).follow(authorize_url(scope="openid storage.read:dteam"))
    query = parse_qs(urlsplit(location).query)
    assert status == 302 and query["error"] == ["invalid_scope"] and query["state"] == ["st-123"], location
