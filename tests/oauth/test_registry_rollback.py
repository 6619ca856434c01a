"""A refresh refused because the user or group vanished keeps its grant until the removal has been served a while.

The removal is a real edit of the configuration file (``ConfigStore``, as ``gridauth admin`` writes
it) and the rollback is ``gridauth config rollback``'s, each reloaded by the service's own holder.
"""

from __future__ import annotations

from gridauth.admin import edits
from gridauth.config.store import ConfigStore

from .conftest import issue_grant

GRACE = 3600  # RemovalGracePeriod's default


def roll_back(service, version: int) -> None:
    """``gridauth config rollback VERSION`` on the service's file, then the reload the server would do."""
    ConfigStore(service.config).rollback(str(version), "test", "undo the accident")
    assert service.context.holder.reload()


def test_a_rolled_back_removal_gives_the_same_refresh_token_back(service):
    rt = issue_grant(service, username="bob")
    assert service.refresh(rt).status == 200
    before = len(ConfigStore(service.config).history()) or 1
    service.edit(lambda cfg: edits.user_remove(cfg, "bob"))
    for _ in range(2):  # refused at every refresh, not revoked
        reply = service.refresh(rt)
        assert (reply.status, reply.body["error"]) == (400, "invalid_grant")
        assert "no longer exists" in reply.body["error_description"]
        assert "revoked" not in reply.body["error_description"]
    service.clock.advance(GRACE - 120)  # still within the grace period
    assert service.refresh(rt).body["error"] == "invalid_grant"
    roll_back(service, before)
    again = service.refresh(rt)
    assert again.status == 200, again.body
    assert service.introspect(again.body["access_token"])["sub"] == "bob"


def test_a_vanished_group_rolled_back_gives_the_grant_back(service):
    rt = issue_grant(service, username="alice", scope="openid group:dteam_admin")
    before = len(ConfigStore(service.config).history()) or 1
    service.edit(lambda cfg: edits.group_remove(cfg, "dteam_admin"))
    reply = service.refresh(rt)
    assert reply.body["error"] == "invalid_grant" and "no longer exists" in reply.body["error_description"]
    roll_back(service, before)
    assert service.refresh(rt).status == 200


def test_a_removal_served_past_the_grace_period_revokes_for_good(service):
    rt = issue_grant(service, username="bob")
    before = len(ConfigStore(service.config).history()) or 1
    service.edit(lambda cfg: edits.user_remove(cfg, "bob"))
    service.clock.advance(GRACE)
    reply = service.refresh(rt)
    assert reply.body["error"] == "invalid_grant"
    assert "the refresh token was revoked" in reply.body["error_description"]
    roll_back(service, before)
    assert service.refresh(rt).body["error_description"] == "the refresh token was revoked"


def test_a_grace_period_of_zero_revokes_at_the_first_refused_refresh(service):
    rt = issue_grant(service, username="bob")
    service.edit(lambda cfg: edits.user_modify(cfg, "bob", remove_groups=["dteam_user"]))
    assert service.refresh(rt).body["error"] == "invalid_grant"  # the default grace: refused only
    service.edit(lambda cfg: cfg.setOption("DIRAC/Security/Authorization/RemovalGracePeriod", "0"))
    reply = service.refresh(rt)
    assert "the refresh token was revoked" in reply.body["error_description"]
    service.edit(lambda cfg: edits.user_modify(cfg, "bob", add_groups=["dteam_user"]))
    assert service.refresh(rt).body["error_description"] == "the refresh token was revoked"
