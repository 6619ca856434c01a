"""A stolen refresh token showing itself (issue 14), over real HTTP: audit line, count, and the grants revoked."""

from __future__ import annotations

import json
import logging

import pytest

from gridauth.errors import ConfigInvalid

from .conftest import PORTAL, issue_grant
from .proofs import Holder
from .real_serve import scrape, value
from .test_dpop import CLI, device_login, refresh, set_option


@pytest.fixture
def audit(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """The ``gridauth.audit`` lines of the test (the service runs in this process)."""
    caplog.set_level(logging.WARNING, logger="gridauth.audit")
    return caplog


def thefts(service, reason: str) -> float:
    """``gridauth_token_theft_suspected_total`` for *reason*."""
    return value(scrape(service), "gridauth_token_theft_suspected_total", reason=reason)


def theft_lines(audit: pytest.LogCaptureFixture) -> list[dict]:
    """The audit records about possible thefts."""
    records = [json.loads(r.getMessage()) for r in audit.records if r.name == "gridauth.audit"]
    return [r for r in records if r["event"] == "token_theft_suspected"]


@pytest.mark.parametrize("reason", ["missing_proof", "wrong_key"])
def test_a_bound_refresh_token_without_its_key_revokes_the_users_grants_from_that_client(service, accounts, audit,
                                                                                        reason):
    holder = Holder(clock=service.clock)
    stolen = device_login(service, holder)["refresh_token"]
    other_device = Holder(clock=service.clock)
    second = device_login(service, other_device)["refresh_token"]
    portal = issue_grant(service)  # the same user at another client: not touched
    before = thefts(service, reason)

    thief = None if reason == "missing_proof" else Holder(clock=service.clock)
    reply = refresh(service, stolen, thief)
    assert reply.status == 400 and "access_token" not in reply.body

    (line,) = theft_lines(audit)
    assert (line["kind"], line["client"], line["user"], line["outcome"]) == (reason, CLI, "alice", "refused")
    assert line["reason"].startswith("possible stolen refresh token of grant ")
    assert line["address"] == "127.0.0.1"
    assert line["reason"].endswith("revoked 2 live grant(s) of the user from this client")
    assert stolen not in audit.text and second not in audit.text
    assert thefts(service, reason) == before + 1
    # the holder's copy ends too (the person logs in again), and so does the other device's grant
    for token, key in ((stolen, holder), (second, other_device)):
        again = refresh(service, token, key)
        assert again.status == 400 and again.body["error"] == "invalid_grant", again.body
    assert refresh(service, portal, None, client=PORTAL).status == 200


def test_a_refresh_token_of_a_revoked_grant_is_a_possible_theft(service, accounts, audit):
    holder = Holder(clock=service.clock)
    stolen = device_login(service, holder)["refresh_token"]
    second = device_login(service, holder)["refresh_token"]
    service.revoke(stolen)
    before = thefts(service, "revoked_grant")
    reply = refresh(service, stolen, holder)  # the right key, even: the grant was revoked
    assert reply.body == {"error": "invalid_grant", "error_description": "the refresh token was revoked"}
    (line,) = theft_lines(audit)
    assert (line["kind"], line["client"], line["user"]) == ("revoked_grant", CLI, "alice")
    assert "revoked 1 live grant(s)" in line["reason"]
    assert thefts(service, "revoked_grant") == before + 1
    assert refresh(service, second, holder).body["error"] == "invalid_grant"


def test_a_confidential_client_keeps_its_grants_by_default(service, audit):
    stolen, other = issue_grant(service), issue_grant(service)
    assert service.post("/revoke", {"token": stolen}, auth=PORTAL).status == 200
    assert refresh(service, stolen, None, client=PORTAL).body["error"] == "invalid_grant"
    (line,) = theft_lines(audit)
    assert line["reason"].endswith("grants left alone (RevokeOnTheft = no)")
    assert refresh(service, other, None, client=PORTAL).status == 200


def test_revoke_on_theft_can_be_turned_off_for_a_public_client(service, accounts, audit):
    with pytest.raises(ConfigInvalid, match="RevokeOnTheft: expected yes or no, found 'maybe'"):
        set_option(service, CLI, "RevokeOnTheft", "maybe")
    set_option(service, CLI, "RevokeOnTheft", "no")
    holder = Holder(clock=service.clock)
    stolen = device_login(service, holder)["refresh_token"]
    assert refresh(service, stolen, None).body["error"] == "invalid_dpop_proof"
    assert theft_lines(audit)[0]["reason"].endswith("grants left alone (RevokeOnTheft = no)")
    assert refresh(service, stolen, holder).status == 200
