"""Two answers that did not say what the documents promise: a group of another VO, and an unknown revocation hint."""

from __future__ import annotations

import pytest

from gridauth.config import load_file
from gridauth.oauth.scopes import ScopeRefused, ScopeRequest, resolve, select
from harness import EXAMPLE

from .conftest import PORTAL, issue_grant


@pytest.mark.parametrize("scope", ["g:lhcb_user vo:dteam", "group:lhcb_user vo:dteam"])
def test_a_group_of_another_vo_is_not_in_vo(scope: str) -> None:
    """docs/tokens.md: alice asking ``group:lhcb_user vo:dteam`` gets "group 'lhcb_user' is not in VO 'dteam'"."""
    registry = load_file(str(EXAMPLE))
    for choose in (lambda r: select(registry, "alice", r), lambda r: resolve(registry, "alice", r)):
        with pytest.raises(ScopeRefused) as refused:
            choose(ScopeRequest.parse(scope))
        assert refused.value.error == "invalid_scope"
        assert refused.value.description == "group 'lhcb_user' is not in VO 'dteam'"
        assert (refused.value.reason, refused.value.details) == ("not_in_vo", {"group": "lhcb_user", "vo": "dteam"})


def test_a_group_the_user_lacks_is_still_not_a_member() -> None:
    registry = load_file(str(EXAMPLE))
    with pytest.raises(ScopeRefused) as refused:
        select(registry, "bob", ScopeRequest.parse("g:dteam_admin vo:dteam"))
    assert refused.value.description == "the user may not act in group 'dteam_admin'"
    assert refused.value.reason == "not_member"


@pytest.mark.parametrize("hint", ["id_token", "bogus", "ACCESS_TOKEN"])
def test_revocation_ignores_an_unknown_hint_and_revokes(service, hint: str) -> None:
    """RFC 7009 §2.1: an unknown token_type_hint is ignored; the token is found and revoked all the same."""
    rt = issue_grant(service)
    access = service.refresh(rt).body["access_token"]
    for token in (access, rt):
        reply = service.post("/revoke", {"token": token, "token_type_hint": hint}, auth=PORTAL)
        assert (reply.status, reply.body) == (200, {}), reply.body
        assert service.introspect(token) == {"active": False}


def test_revocation_still_needs_the_token(service) -> None:
    reply = service.post("/revoke", {"token_type_hint": "bogus"}, auth=PORTAL)
    assert (reply.status, reply.body["error"]) == (400, "invalid_request")


def test_introspection_ignores_an_unknown_hint(service) -> None:
    rt = issue_grant(service)
    reply = service.post("/introspect", {"token": rt, "token_type_hint": "bogus"}, auth=("example-service",
                                                                                          "service-secret"))
    assert reply.status == 200 and reply.body["active"] is True
