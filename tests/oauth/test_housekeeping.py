"""Housekeeping: expired rows are purged (the periodic task and `gridauth db purge` share one function);
the key listing."""

from __future__ import annotations

import json
import subprocess
import sys

from sqlalchemy import func, select

from gridauth.db.models import DeviceFlowRow, GrantRow, RevokedTokenRow

from .conftest import SERVICE, issue_grant


def _count(service, model) -> int:
    with service.context.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_purge_removes_what_expired_and_keeps_what_lives(service):
    rt = issue_grant(service)
    service.refresh(rt)
    client_token = service.post("/token", {"grant_type": "client_credentials"}, auth=SERVICE).body["access_token"]
    assert service.post("/revoke", {"token": client_token}, auth=SERVICE).status == 200  # on the deny list
    service.post("/device_authorization", {"client_id": "gridauth-cli", "scope": "openid"})
    assert service.context.purge()["revoked_tokens"] == 0
    assert (_count(service, RevokedTokenRow), _count(service, GrantRow), _count(service, DeviceFlowRow)) == (1, 1, 1)
    service.clock.advance(1201)  # access tokens and the device flow are over, the 12 h grant lives on
    counts = service.context.purge()
    assert counts["revoked_tokens"] == 1 and counts["device_flows"] == 1 and counts["grants"] == 0
    assert service.refresh(rt).status == 200
    service.clock.advance(12 * 3600)
    assert service.context.purge()["grants"] == 1
    assert service.refresh(rt).body["error"] == "invalid_grant"


def test_purge_and_key_commands(service, db_url):
    base = [sys.executable, "-m", "gridauth.cli.main"]
    common = ["--config", str(service.config), "--db", db_url]
    purge = subprocess.run([*base, "db", "purge", *common], capture_output=True, text=True, timeout=60)
    assert purge.returncode == 0 and purge.stdout.startswith("purged "), purge.stderr
    listed = subprocess.run([*base, "keys", "list", *common, "--json"], capture_output=True, text=True, timeout=60)
    keys = json.loads(listed.stdout)
    assert [k["kid"] for k in keys] == [k["kid"] for k in service.get("/jwks").body["keys"]]
    assert keys[0]["alg"] == "RS256" and keys[0]["published_until"] == "current"
