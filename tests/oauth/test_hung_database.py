"""A hung database (SIGSTOP on a MariaDB server the test starts itself) must not hang requests.

The server is the test's own ``mariadbd`` (its own data directory and port, never the machine's
MariaDB on 3306), stopped with SIGSTOP: connections stay open and nothing answers, as with a
swapping or wedged server. Each request is made with a client timeout, so a hung request fails the
test instead of waiting for ever; the bounds are wide (the service's own are 1.5 s for /health and
5 to 10 s for a query), they tell a bounded wait from a hang, not a speed.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import PORTAL, SERVICE, Service, issue_grant

MySQLdb = pytest.importorskip("MySQLdb", reason="the mysqlclient driver (the mysql extra) is not installed")

from mariadb_node import MariaDBNode, available  # noqa: E402  (after the driver check)

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="module")
def node() -> Iterator[MariaDBNode]:
    """A MariaDB server of this module's own, on a free loopback port."""
    if why := available():
        pytest.skip(f"needs {why}")
    server = MariaDBNode().start()
    try:
        yield server
    finally:
        server.stop()


def call(service: Service, path: str, within: float, data: dict[str, str] | None = None,
         auth: tuple[str, str] | None = None) -> tuple[int, Any]:
    """(status, JSON body) of one request that must be answered within *within* seconds (else the test fails)."""
    headers = {}
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    if auth:
        import base64

        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    request = urllib.request.Request(service.url + path, data=body, headers=headers)
    try:
        with OPENER.open(request, timeout=within) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_hung_database_gives_quick_503s_and_memory_answers(node: MariaDBNode, config_file: Path) -> None:
    service = Service(config_file, node.create_database("gridauth_hung"))
    try:
        refresh_token = issue_grant(service)
        assert call(service, "/token", 30, {"grant_type": "refresh_token", "refresh_token": refresh_token},
                    PORTAL)[0] == 200
        jwks = call(service, "/jwks", 30)[1]
        node.pause()
        try:
            status, health = call(service, "/health", 5)  # the service's own deadline is 1.5 s
            assert (status, health["status"], health["database"]) == (503, "degraded", "unavailable")
            for _ in range(3):  # the first waits for the query timeout, the next ones fail at once
                status, body = call(service, "/token", 20,
                                    {"grant_type": "refresh_token", "refresh_token": refresh_token}, PORTAL)
                assert (status, body["error"]) == (503, "temporarily_unavailable"), body
            assert call(service, "/.well-known/openid-configuration", 5)[0] == 200
            service.clock.advance(60)  # the key ring is due to re-read the keys: it serves the ones it has
            assert call(service, "/jwks", 5) == (200, jwks)
            assert call(service, "/token", 20, {"grant_type": "client_credentials"}, SERVICE)[0] == 200
            status, health = call(service, "/health", 5)
            assert health["status"] == "degraded"
        finally:
            node.resume()
        deadline = time.monotonic() + 30
        while call(service, "/health", 5)[1]["status"] != "ok":
            assert time.monotonic() < deadline, "the service did not see the database back"
            time.sleep(0.2)
        status, body = call(service, "/token", 20, {"grant_type": "refresh_token", "refresh_token": refresh_token},
                            PORTAL)
        assert status == 200, body
    finally:
        node.resume()
        service.stop()
