"""The refresh grant's semantics, one by one, over real HTTP."""

from __future__ import annotations

from gridauth.admin import edits

from .conftest import PORTAL, issue_grant
from .proofs import token_request_proof

TWELVE_HOURS = 12 * 3600


def test_refresh_issues_an_access_token_and_no_new_refresh_token(service):
    rt = issue_grant(service)
    reply = service.refresh(rt)
    assert reply.status == 200, reply.body
    assert reply.body["token_type"] == "Bearer"
    assert "refresh_token" not in reply.body
    assert reply.body["expires_in"] == 1200
    assert 43190 <= reply.body["refresh_expires_in"] <= 43200  # the refresh token kept lives on, not renewed
    assert reply.body["scope"] == "openid profile vo:dteam group:dteam_user"
    assert reply.headers["Cache-Control"] == "no-store"
    assert reply.headers["Pragma"] == "no-cache"


def test_refresh_revokes_the_earlier_access_tokens_of_the_grant(service):
    rt = issue_grant(service)
    first = service.refresh(rt).body["access_token"]
    assert service.introspect(first)["active"] is True
    second = service.refresh(rt).body["access_token"]
    assert service.introspect(first) == {"active": False}
    assert service.introspect(second)["active"] is True


def test_refresh_leaves_other_grants_alone(service):
    rt_a, rt_b = issue_grant(service), issue_grant(service)
    token_b = service.refresh(rt_b).body["access_token"]
    service.refresh(rt_a)
    assert service.introspect(token_b)["active"] is True


def test_refresh_token_keeps_working_after_a_refresh(service):
    rt = issue_grant(service)
    for _ in range(3):
        assert service.refresh(rt).status == 200


def test_refresh_token_lasts_twelve_hours_from_issue_and_is_not_extended(service):
    rt = issue_grant(service)
    service.clock.advance(TWELVE_HOURS - 60)
    assert service.refresh(rt).status == 200  # refreshing does not extend the lifetime...
    service.clock.advance(61)
    reply = service.refresh(rt)  # ...so 12 h after issue it is over
    assert reply.status == 400
    assert reply.body["error"] == "invalid_grant"
    assert "expired" in reply.body["error_description"]


def test_refresh_token_introspection_shows_twelve_hour_expiry(service):
    now = service.clock.now()
    rt = issue_grant(service)
    info = service.introspect(rt)
    assert info["active"] is True
    assert info["token_type"] == "refresh_token"
    assert now + TWELVE_HOURS <= info["exp"] <= now + TWELVE_HOURS + 5


def test_per_client_refresh_lifetime(service):
    service.edit(lambda cfg: cfg.setOption(
        "DIRAC/Security/Authorization/Clients/example-portal/RefreshTokenLifetime", "3600"))
    rt = issue_grant(service)
    service.clock.advance(3601)
    assert service.refresh(rt).body["error"] == "invalid_grant"


def test_refresh_after_revocation_is_invalid_grant(service):
    rt = issue_grant(service)
    assert service.post("/revoke", {"token": rt, "token_type_hint": "refresh_token"}, auth=PORTAL).status == 200
    reply = service.refresh(rt)
    assert reply.status == 400
    assert reply.body["error"] == "invalid_grant"


def test_unknown_refresh_token_is_invalid_grant(service):
    reply = service.refresh("not-a-token")
    assert (reply.status, reply.body["error"]) == (400, "invalid_grant")


def test_refresh_by_another_client_is_invalid_grant(service):
    rt = issue_grant(service, client_id="gridauth-cli")
    reply = service.refresh(rt, client=PORTAL)
    assert reply.body["error"] == "invalid_grant"


def test_public_client_refreshes_with_client_id_only(service):
    rt = issue_grant(service, client_id="oidc-agent")  # public, DPoP allowed: no proof needed
    reply = service.refresh(rt, client=("oidc-agent", None))
    assert reply.status == 200, reply.body
    assert "refresh_token" not in reply.body


def test_a_client_that_requires_dpop_refreshes_an_unbound_grant_only_with_a_proof(service):
    """A grant issued before the client required DPoP (no key bound) still needs a proof for each refresh."""
    rt = issue_grant(service, client_id="gridauth-cli")
    refused = service.refresh(rt, client=("gridauth-cli", None))
    assert (refused.status, refused.body["error"]) == (400, "invalid_dpop_proof"), refused.body
    data = {"grant_type": "refresh_token", "refresh_token": rt, "client_id": "gridauth-cli"}
    reply = service.post("/token", data, headers=token_request_proof(service))
    assert reply.status == 200, reply.body


def test_narrower_scope_is_granted(service):
    rt = issue_grant(service)
    reply = service.refresh(rt, scope="openid")
    assert reply.status == 200, reply.body
    assert reply.body["scope"] == "openid vo:dteam group:dteam_user"


def test_wider_scope_is_invalid_scope(service):
    rt = issue_grant(service, scope="openid group:dteam_user")
    reply = service.refresh(rt, scope="openid email")
    assert (reply.status, reply.body["error"]) == (400, "invalid_scope")


def test_another_group_is_invalid_scope(service):
    rt = issue_grant(service)
    for scope in ("g:dteam_admin", "group:lhcb_user", "vo:lhcb"):
        reply = service.refresh(rt, scope=scope)
        assert (reply.status, reply.body["error"]) == (400, "invalid_scope"), scope


def test_dirac_group_scope_spelling_is_understood(service):
    rt = issue_grant(service, scope="openid g:dteam_admin")
    reply = service.refresh(rt, scope="openid g:dteam_admin")
    assert reply.status == 200, reply.body
    info = service.introspect(reply.body["access_token"])
    assert info["dirac_group"] == "dteam_admin"
    assert info["dirac_properties"] == ["NormalUser", "ProxyManagement", "ServiceAdministrator"]


def test_user_removed_from_group_gets_invalid_grant_and_the_grant_is_revoked(service):
    rt = issue_grant(service, username="bob")
    token = service.refresh(rt).body["access_token"]
    service.edit(lambda cfg: edits.user_modify(cfg, "bob", remove_groups=["dteam_user"]))
    service.clock.advance(3600)  # the removal has been served for RemovalGracePeriod (test_registry_rollback.py)
    reply = service.refresh(rt)
    assert (reply.status, reply.body["error"]) == (400, "invalid_grant")
    assert "no longer a member" in reply.body["error_description"]
    assert service.introspect(rt) == {"active": False}
    assert service.introspect(token) == {"active": False}
    # Putting bob back does not revive a revoked grant.
    service.edit(lambda cfg: edits.user_modify(cfg, "bob", add_groups=["dteam_user"]))
    assert service.refresh(rt).body["error"] == "invalid_grant"


def test_deleted_user_gets_invalid_grant(service):
    rt = issue_grant(service, username="bob")
    service.edit(lambda cfg: edits.user_remove(cfg, "bob"))
    reply = service.refresh(rt)
    assert reply.body["error"] == "invalid_grant"
    assert "no longer exists" in reply.body["error_description"]


def test_group_moved_out_of_the_vo_gets_invalid_grant(service):
    rt = issue_grant(service, username="carol", scope="openid group:lhcb_user")

    def move(cfg):
        cfg.deleteKey("Registry/VO/lhcb/DefaultGroup")
        edits.group_modify(cfg, "lhcb_user", vo="dteam")

    service.edit(move)
    assert service.refresh(rt).body["error"] == "invalid_grant"


def test_refresh_token_is_stored_only_as_a_hash(service):
    rt = issue_grant(service)
    from sqlalchemy import text

    with service.context.db.engine.connect() as conn:
        stored = [tuple(r) for r in conn.execute(text("SELECT * FROM grants"))]
    assert stored and not any(rt in str(value) for row in stored for value in row)
    assert len(rt) >= 43  # 256 bits, base64url


def test_properties_can_be_narrowed_but_not_widened(service):
    rt = issue_grant(service, scope="openid group:dteam_admin property:NormalUser")
    reply = service.refresh(rt)
    assert reply.body["scope"] == "openid vo:dteam group:dteam_admin property:NormalUser"
    assert service.introspect(reply.body["access_token"])["dirac_properties"] == ["NormalUser"]
    narrowed = service.refresh(rt, scope="openid")
    assert narrowed.body["scope"].endswith("property:NormalUser")
    for scope in ("property:ProxyManagement", "property:Bogus"):
        reply = service.refresh(rt, scope=scope)
        assert (reply.status, reply.body["error"]) == (400, "invalid_scope"), scope
    full = issue_grant(service, scope="openid group:dteam_admin")
    assert service.refresh(full, scope="property:ProxyManagement").body["scope"].endswith(
        "property:ProxyManagement")
    assert service.refresh(full, scope="property:Bogus").body["error"] == "invalid_scope"


def test_a_property_the_group_lost_is_not_widened_to_all(service):
    rt = issue_grant(service, scope="openid group:dteam_admin property:ProxyManagement")
    service.edit(lambda cfg: cfg.setOption("Registry/Groups/dteam_admin/Properties", "NormalUser"))
    reply = service.refresh(rt)
    assert (reply.status, reply.body["error"]) == (400, "invalid_grant")


def test_an_authoritative_provider_vouches_only_for_logins_made_through_it(service):
    def authoritative(cfg):
        cfg.createNewSection("Resources/IdProviders/CheckIn")
        for option, value in (("ProviderType", "CheckIn"), ("issuer", "https://aai.egi.eu/auth/realms/egi"),
                              ("client_id", "gridauth")):
            cfg.setOption(f"Resources/IdProviders/CheckIn/{option}", value)
        cfg.setOption("Registry/VO/dteam/IdProvider", "CheckIn")
        cfg.setOption("Registry/VO/dteam/IdPAuthoritative", "yes")

    service.edit(authoritative)
    through_checkin = issue_grant(service, username="bob", idp="CheckIn")
    through_password = issue_grant(service, username="bob", idp="local")
    service.edit(lambda cfg: edits.user_modify(cfg, "bob", remove_groups=["dteam_user"]))
    assert service.refresh(through_checkin).status == 200  # the provider's claims stand for the membership
    reply = service.refresh(through_password)
    assert (reply.status, reply.body["error"]) == (400, "invalid_grant")  # no provider vouches for this one


def test_concurrent_refreshes_of_one_grant_leave_one_active_token(service):
    import threading

    rt = issue_grant(service)
    tokens: list[str] = []
    statuses: list[int] = []

    def refresh_many() -> None:
        for _ in range(5):
            reply = service.refresh(rt)
            statuses.append(reply.status)
            tokens.append(reply.body.get("access_token", ""))

    threads = [threading.Thread(target=refresh_many) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 30
    assert sum(service.introspect(token)["active"] for token in tokens) == 1


def test_groups_claim_includes_the_group_the_token_acts_in(service):
    from gridauth.oauth.openid import user_claims
    from gridauth.oauth.scopes import Membership

    registry = service.context.registry
    vouched = Membership("bob", "dteam_admin", "dteam", ("NormalUser",))  # bob is not listed in dteam_admin
    assert user_claims(registry, vouched, "openid")["groups"] == ["dteam_user", "dteam_admin"]
