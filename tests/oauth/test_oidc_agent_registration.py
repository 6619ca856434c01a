"""oidc-agent's default set-up against gridauth: ``oidc-gen`` without ``--client-id`` registers its own client.

Debian's oidc-agent (4.2) runs headless as in tests/client/test_oidc_agent.py; the server allows
``authenticated`` registration, and ``oidc-gen --at`` presents alice's access token as the initial
access token. oidc-agent registers a client (RFC 7591), runs the device flow with it (approved by
alice on the pages), then gets and refreshes tokens; the client is alice's, in the database.
Also here, the password grant from the same real client: ``oidc-gen --flow password`` with a
confidential client the configuration allows it.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from client.conftest import Running, jwt_claims, service_config
from client.test_oidc_agent import agent, oidc_token, pytestmark  # noqa: F401 - the fixture and the skip
from gridauth.config import cfgfile
from gridauth.db.models import RegisteredClientRow
from harness import PASSWORDS, Browser, bind
from harness import Service as HarnessService

from .conftest import issue_grant

POLICY = "/DIRAC/Security/Authorization/ClientRegistration"


@pytest.fixture
def registering_service(tmp_path: Path, db_url: str) -> Iterator[HarnessService]:
    """The example configuration served at its own URL, ``authenticated`` registration, on the test's database."""
    sockets, url = bind()
    config = service_config(tmp_path / "gridauth.cfg", url)
    svc = HarnessService(config, db_url, sockets, url, ("alice",))
    svc.edit(lambda cfg: cfgfile.set_option(cfg, POLICY, "authenticated"))
    yield svc
    svc.stop()


def test_oidc_gen_registers_its_client_with_an_access_token(registering_service, agent, tmp_path):  # noqa: F811
    service = registering_service
    initial = service.refresh(issue_grant(service)).body["access_token"]  # alice's, from the portal
    argv = ["oidc-gen", "gridauth", "--issuer", service.url, "--flow", "device", "--at", initial,
            "--scope", "openid offline_access group:dteam_user", "--pw-env", "--prompt", "none", "--no-url-call"]
    running = Running(subprocess.Popen(argv, env=agent, text=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT))
    code = running.expect(r"enter the code: ([A-Z]{4}-[A-Z]{4})").group(1)
    page = Browser(service).approve_device(f"{service.url}/device?user_code={code}")
    assert "Device connected" in page, page
    generated = running.finish(timeout=30)
    assert generated.returncode == 0 and "Everything setup correctly" in generated.stdout, generated.stdout

    with service.context.db.transaction() as session:
        (row,) = session.query(RegisteredClientRow).all()
        client_id, owner, metadata = row.client_id, row.owner, json.loads(row.metadata_json)
    assert owner == "alice" and metadata["client_name"].startswith("oidc-agent:gridauth")
    first = oidc_token(agent)
    claims = jwt_claims(first)
    assert (claims["client_id"], claims["preferred_username"], claims["dirac_group"]) == (client_id, "alice",
                                                                                          "dteam_user")
    assert service.introspect(first)["active"] is True
    second = oidc_token(agent, "--force-new")  # a refresh with the registered client's refresh token
    assert second != first and service.introspect(second)["active"] is True


def test_oidc_gen_with_the_password_flow_of_a_client_allowed_it(registering_service, agent):  # noqa: F811
    """The password grant from a real client: oidc-gen's password flow with the example portal, once it lists it."""
    service = registering_service
    grants = "/DIRAC/Security/Authorization/Clients/example-portal/grant_types"
    service.edit(lambda cfg: cfgfile.set_option(cfg, grants, "authorization_code, refresh_token, password"))
    argv = ["oidc-gen", "gridauth", "--issuer", service.url, "--flow", "password", "--client-id", "example-portal",
            "--client-secret", "portal-secret", "--op-username", "alice", "--op-password", PASSWORDS["alice"],
            "--scope", "openid offline_access group:lhcb_user", "--pw-env", "--prompt", "none"]
    generated = subprocess.run(argv, env=agent, text=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
    assert generated.returncode == 0 and "Everything setup correctly" in generated.stdout, (generated.stdout,
                                                                                           generated.stderr)
    claims = jwt_claims(oidc_token(agent))
    assert (claims["client_id"], claims["preferred_username"], claims["dirac_group"]) == ("example-portal", "alice",
                                                                                          "lhcb_user")
