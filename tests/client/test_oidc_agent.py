"""oidc-agent, the token agent grid users already run, against a real gridauth server, headless.

``oidc-agent`` runs on its own socket with its own configuration directory; ``oidc-gen`` adds gridauth
as an account with the device flow (no prompt, password from the environment, no browser), the test
approves through the pages, and ``oidc-token`` then gets and refreshes access tokens.

Two set-ups, both documented in docs/user-guide.md: the example configuration's public client
``oidc-agent`` with an empty secret (oidc-agent 4.2 then sends ``Authorization: Basic
base64("oidc-agent:")``, which the server accepts from public clients; it allows refreshes without
DPoP, which oidc-agent does not send), and a client whose secret is published to the users.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import Browser, Running, Service, jwt_claims

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("oidc-agent", "oidc-gen", "oidc-token")),
    reason="oidc-agent is not installed (Debian: apt-get install oidc-agent-cli)")

# A client for oidc-agent whose secret is published (it protects nothing: anyone may use it), as the
# CFG of a site would declare it. The secret is "oidc-agent-public".
PUBLISHED_SECRET = "oidc-agent-public"
OIDC_AGENT_CLIENT = """        site-oidc-agent
        {
          client_id = site-oidc-agent
          client_secret = pbkdf2_sha256$1000$YkikTtUAHN2hOGCDoYNovQ$vIF9EhYMWV2BgQoNt2YwdVPXlBLF-u7ESUSaMDP3QtI
          token_endpoint_auth_method = client_secret_basic
          grant_types = urn:ietf:params:oauth:grant-type:device_code, refresh_token
          scope = openid, profile, email, offline_access
        }
"""


@pytest.fixture
def oidc_service(tmp_path: Path) -> Iterator[Service]:
    """The service, with the oidc-agent client added to the example configuration."""
    directory = tmp_path / "server"
    directory.mkdir()
    svc = Service(directory, OIDC_AGENT_CLIENT)
    yield svc
    svc.stop()


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A private oidc-agent; the environment that talks to it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OIDC", "DISPLAY", "BROWSER"))}
    env.update({"HOME": str(tmp_path / "home"), "OIDC_CONFIG_DIR": str(tmp_path / "oidc-agent"),
                "OIDC_ENCRYPTION_PW": "agent-test-password"})
    Path(env["HOME"]).mkdir()
    sockets = tempfile.mkdtemp(prefix="oa-", dir="/tmp")  # a UNIX socket path must stay under 108 bytes
    started = subprocess.run(["oidc-agent", "--json", "--no-autoreauthenticate", "-a",
                              f"{sockets}/XXXXXX/agent.sock"], env=env, capture_output=True, text=True, timeout=20)
    assert started.returncode == 0, started.stderr
    info = json.loads(started.stdout)
    env.update({"OIDC_SOCK": info["socket"], "OIDCD_PID": str(info["dpid"])})
    deadline = time.monotonic() + 20
    while not Path(info["socket"]).exists():  # the daemon creates its socket after the parent returned
        assert time.monotonic() < deadline, "oidc-agent did not create its socket"
        time.sleep(0.05)
    yield env
    with contextlib.suppress(ProcessLookupError):
        os.kill(int(info["dpid"]), signal.SIGTERM)
    shutil.rmtree(sockets, ignore_errors=True)


def oidc_gen(service: Service, env: dict[str, str], client_id: str, secret: str) -> subprocess.CompletedProcess[str]:
    """``oidc-gen`` with the device flow, headless; the test approves as alice in dteam_user."""
    argv = ["oidc-gen", "gridauth", "--issuer", service.url, "--client-id", client_id, "--client-secret", secret,
            "--flow", "device", "--scope", "openid offline_access group:dteam_user", "--pw-env", "--prompt", "none",
            "--no-url-call"]
    running = Running(subprocess.Popen(argv, env=env, text=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT))
    code = running.expect(r"enter the code: ([A-Z]{4}-[A-Z]{4})").group(1)
    page = Browser(service).approve_device(f"{service.url}/device?user_code={code}")
    assert "Device connected" in page, page
    return running.finish(timeout=30)


def oidc_token(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(["oidc-token", *args, "gridauth"], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


def test_oidc_agent_with_a_client_whose_secret_is_published(oidc_service, agent):
    generated = oidc_gen(oidc_service, agent, "site-oidc-agent", PUBLISHED_SECRET)
    assert generated.returncode == 0 and "Everything setup correctly" in generated.stdout, generated.stdout
    assert (Path(agent["OIDC_CONFIG_DIR"]) / "gridauth").exists()  # the account, encrypted with the password
    first = oidc_token(agent)
    claims = jwt_claims(first)
    assert (claims["client_id"], claims["preferred_username"], claims["dirac_group"]) == (
        "site-oidc-agent", "alice", "dteam_user")
    assert oidc_service.introspect(first)["active"] is True
    # A new token from the agent: a refresh with the stored refresh token (the server's semantics hold).
    second = oidc_token(agent, "--force-new")
    assert second != first
    assert oidc_service.introspect(second)["active"] is True
    assert oidc_service.introspect(first) == {"active": False}


def test_oidc_agent_with_the_public_client_that_allows_refresh_without_dpop(service, agent):
    """The example configuration's ``oidc-agent`` client, no secret (oidc-agent sends Basic with an empty one)."""
    generated = oidc_gen(service, agent, "oidc-agent", "")
    assert generated.returncode == 0 and "Everything setup correctly" in generated.stdout, generated.stdout
    first = oidc_token(agent)
    assert jwt_claims(first)["client_id"] == "oidc-agent"
    assert service.introspect(first)["active"] is True
    second = oidc_token(agent, "--force-new")
    assert second != first and service.introspect(second)["active"] is True
