"""Revocation (RFC 7009) cascade and introspection (RFC 7662)."""

from __future__ import annotations

from .conftest import PORTAL, SERVICE, issue_grant


def test_revoking_the_refresh_token_ends_the_grant_and_its_access_tokens(service):
    rt = issue_grant(service)
    access = service.refresh(rt).body["access_token"]
    reply = service.post("/revoke", {"token": rt}, auth=PORTAL)
    assert reply.status == 200 and reply.body == {}
    assert service.introspect(access) == {"active": False}
    assert service.introspect(rt) == {"active": False}
    assert service.refresh(rt).body["error"] == "invalid_grant"


def test_revoking_an_access_token_revokes_it_alone(service):
    rt = issue_grant(service)
    access = service.refresh(rt).body["access_token"]
    assert service.post("/revoke", {"token": access, "token_type_hint": "access_token"}, auth=PORTAL).status == 200
    assert service.introspect(access) == {"active": False}
    assert service.introspect(rt)["active"] is True
    assert service.refresh(rt).status == 200


def test_unknown_token_revocation_is_200(service):
    reply = service.post("/revoke", {"token": "whatever"}, auth=PORTAL)
    assert reply.status == 200


def test_public_client_revokes_with_client_id(service):
    rt = issue_grant(service, client_id="gridauth-cli")
    assert service.post("/revoke", {"token": rt, "client_id": "gridauth-cli"}).status == 200
    assert service.introspect(rt) == {"active": False}


def test_revocation_needs_client_authentication(service):
    reply = service.post("/revoke", {"token": "x"}, auth=("example-portal", "wrong"))
    assert reply.status == 401 and reply.body["error"] == "invalid_client"


def test_missing_token_parameter_is_invalid_request(service):
    reply = service.post("/revoke", {}, auth=PORTAL)
    assert (reply.status, reply.body["error"]) == (400, "invalid_request")


def test_introspection_of_an_active_access_token(service):
    rt = issue_grant(service, scope="openid group:dteam_user")
    reply = service.refresh(rt).body
    info = service.introspect(reply["access_token"])
    assert info["active"] is True
    assert info["sub"] == "alice" and info["username"] == "alice"
    assert info["client_id"] == "example-portal"
    assert info["scope"] == "openid vo:dteam group:dteam_user"
    assert info["token_type"] == "Bearer"
    assert info["vo"] == "dteam" and info["dirac_group"] == "dteam_user"
    assert info["dirac_properties"] == ["NormalUser"]
    assert info["exp"] - info["iat"] == 1200


def test_introspection_of_an_expired_access_token(service):
    access = service.refresh(issue_grant(service)).body["access_token"]
    service.clock.advance(1201)
    assert service.introspect(access) == {"active": False}


def test_introspection_needs_a_confidential_client(service):
    reply = service.post("/introspect", {"token": "x", "client_id": "gridauth-cli"})
    assert reply.status in (400, 401) and reply.body["error"] == "invalid_client"


def test_introspection_of_garbage_is_inactive(service):
    for token in ("x", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "é" * 10):
        reply = service.post("/introspect", {"token": token}, auth=SERVICE)
        assert reply.status == 200 and reply.body == {"active": False}, token
