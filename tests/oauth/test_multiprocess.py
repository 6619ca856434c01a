"""Several processes (``--processes 2``) and a second 'host' over one database behave as one service."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gridauth.config.reload import RegistryHolder
from gridauth.db.engine import Database
from gridauth.service import ServiceContext

from .conftest import PORTAL, SERVICE, http, issue_grant


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(config: Path, db_url: str, processes: int, tmp_path: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "GRIDAUTH_STATE_DIR": str(tmp_path / "state")}
    with open(tmp_path / f"serve-{port}.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "gridauth.cli.main", "serve", "--config", str(config),
                                 "--db", db_url, "--port", str(port), "--processes", str(processes)],
                                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if http(url + "/health").status == 200:
                return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError((tmp_path / f"serve-{port}.log").read_text())


class _Grants:
    """Just enough of a service to create grants in the shared database (see conftest.issue_grant)."""

    def __init__(self, config: Path, db_url: str) -> None:
        self.context = ServiceContext(RegistryHolder(config), Database(db_url))
        self.clock = self.context.clock


@pytest.fixture
def cluster(config_file, db_url, tmp_path):
    procs = []
    first, url_a = _start(config_file, db_url, 2, tmp_path)
    procs.append(first)
    second, url_b = _start(config_file, db_url, 1, tmp_path)
    procs.append(second)
    yield url_a, url_b
    for proc in procs:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=20)


def test_tokens_issued_by_one_process_are_refreshed_introspected_and_revoked_by_others(cluster, config_file,
                                                                                      db_url):
    url_a, url_b = cluster
    grants = _Grants(config_file, db_url)
    rt = issue_grant(grants)
    grants.context.db.close()

    def refresh(url):
        reply = http(url + "/token", {"grant_type": "refresh_token", "refresh_token": rt}, auth=PORTAL)
        assert reply.status == 200, reply.body
        return reply.body["access_token"]

    def active(url, token):
        return http(url + "/introspect", {"token": token}, auth=SERVICE).body["active"]

    tokens = [refresh(url_a) for _ in range(4)]  # spread over both worker processes
    assert active(url_b, tokens[-1]) is True
    assert not any(active(url_b, t) for t in tokens[:-1])
    newest = refresh(url_b)
    assert active(url_a, tokens[-1]) is False and active(url_a, newest) is True
    assert http(url_b + "/revoke", {"token": rt}, auth=PORTAL).status == 200
    assert active(url_a, newest) is False
    assert http(url_a + "/token", {"grant_type": "refresh_token", "refresh_token": rt},
                auth=PORTAL).body["error"] == "invalid_grant"


def test_every_process_publishes_the_same_keys(cluster):
    url_a, url_b = cluster
    kids = [{k["kid"] for k in http(url + "/jwks").body["keys"]} for url in (url_a, url_a, url_a, url_b)]
    assert all(k == kids[0] for k in kids) and kids[0]
    token = http(url_a + "/token", {"grant_type": "client_credentials"}, auth=SERVICE).body["access_token"]
    assert http(url_b + "/introspect", {"token": token}, auth=SERVICE).body["active"] is True


def test_stopping_the_parent_stops_every_worker(config_file, db_url, tmp_path):
    proc, url = _start(config_file, db_url, 2, tmp_path)
    try:
        proc.send_signal(15)  # the parent only, as an init system would
        assert proc.wait(timeout=20) == 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                http(url + "/health")
            except OSError:
                break  # nobody listens any more
            time.sleep(0.1)
        else:
            raise AssertionError("a worker kept serving after the parent stopped")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
