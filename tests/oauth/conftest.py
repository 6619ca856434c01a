"""Fixtures for the authorization-server tests: a real server on loopback, a real database.

The database is SQLite always and, when ``GRIDAUTH_TEST_MYSQL`` holds a MySQL/MariaDB URL of a
server (e.g. ``mysql+mysqldb://root@127.0.0.1``), MariaDB too: each test gets a fresh database.

Refresh tokens come from the login flows' grants (test_code_flow, test_device_flow) or, for the
refresh-grant tests, from :func:`issue_grant`, a test-only helper that creates a grant with the
same storage API the login grants use (``GridAuthorizationServer.create_grant``) — there is no
back door in the served HTTP API. The service and the browser are those of ``tests/harness.py``.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from gridauth.oauth.issuer import refresh_token_value
from gridauth.oauth.models import GridUser, OAuthClient
from gridauth.oauth.scopes import ScopeRequest, canonical, resolve
from harness import EXAMPLE, PASSWORDS, PORTAL, SERVICE, Browser, Reply, Service, http

__all__ = ["PASSWORDS", "PORTAL", "SERVICE", "Browser", "Reply", "Service", "http", "issue_grant"]


def _backends() -> list[str]:
    backends = ["sqlite"]
    if os.environ.get("GRIDAUTH_TEST_MYSQL"):
        backends.append("mysql")
    return backends


@pytest.fixture(params=_backends())
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: an SQLite file, or a new database on the MariaDB server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.sqlite'}"
        return
    server = os.environ["GRIDAUTH_TEST_MYSQL"].rstrip("/")
    name = f"gridauth_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server + "/")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
    try:
        yield f"{server}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """A private copy of the example configuration."""
    path = tmp_path / "gridauth.cfg"
    shutil.copy(EXAMPLE, path)
    return path


@pytest.fixture
def service(config_file: Path, db_url: str) -> Iterator[Service]:
    """A running service on the example configuration and a fresh database."""
    svc = Service(config_file, db_url)
    yield svc
    svc.stop()


def issue_grant(service: Service, username: str = "alice", scope: str = "openid profile group:dteam_user",
                client_id: str = "example-portal", idp: str = "local", carried: bool = True) -> str:
    """Test-only: create a grant as a login flow would (same storage API) and return its refresh token.

    Not *carried*: a plain refresh token (256 random bits), as issued before refresh tokens carried their grant.
    """
    server = service.context.server
    registry = service.context.registry
    with server.bound(registry):
        asked = ScopeRequest.parse(scope)
        membership = resolve(registry, username, asked)
        client = OAuthClient(registry.client(client_id))
        user = GridUser(membership, auth_time=service.clock.now(), idp=idp)
        scope = canonical(asked.plain, membership, asked.properties)
        if carried:
            return server.create_grant(client, user, scope, refresh_token_value())
        token = refresh_token_value()
        server.tokens.create_grant(server.new_grant(client, user, scope), token)
        return token


@pytest.fixture
def accounts(service: Service) -> dict[str, str]:
    """Local-account passwords for the example users, set through the storage API of `gridauth admin passwd`."""
    for user, password in PASSWORDS.items():
        service.context.accounts.set_password(user, password, service.clock.now())
    return PASSWORDS
