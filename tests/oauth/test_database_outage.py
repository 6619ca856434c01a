"""A database that goes away gives 503 with an error JSON, and the service recovers by itself.

The service reaches MariaDB through a TCP relay run by the test; cutting the relay is the outage.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time

import pytest

from gridauth.db.engine import PING_AFTER_IDLE

from .conftest import SERVICE, Service, issue_grant

pytestmark = pytest.mark.skipif(not os.environ.get("GRIDAUTH_TEST_MYSQL"), reason="needs MariaDB")


class Relay:
    """Forwards TCP connections to MariaDB until cut; ``cut()`` also kills open connections."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.up = False
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self.conns.clear()

    def restore(self) -> None:
        self.up = True


def test_database_outage_is_503_and_recovers(config_file, db_url):
    if not db_url.startswith("mysql"):
        pytest.skip("the outage is simulated on the MariaDB connection")
    relay = Relay(("127.0.0.1", 3306))
    relayed = db_url.replace("@127.0.0.1/", f"@127.0.0.1:{relay.port}/")
    service = Service(config_file, relayed)
    try:
        ok = service.post("/token", {"grant_type": "client_credentials"}, auth=SERVICE)
        assert ok.status == 200, ok.body
        refresh_token = issue_grant(service)
        relay.cut()
        # a client's token needs no database (nothing is stored, the key is cached); a refresh does
        assert service.post("/token", {"grant_type": "client_credentials"}, auth=SERVICE).status == 200
        down = service.refresh(refresh_token)
        assert down.status == 503
        assert down.body["error"] == "temporarily_unavailable"
        assert down.headers["Cache-Control"] == "no-store"
        service.clock.advance(60)  # the key cache is due: JWKS answers with the keys this process has
        assert service.get("/jwks").status == 200
        health = service.get("/health")
        assert health.status == 503 and health.body["database"] == "unavailable"
        page = service.get("/device?user_code=BBBB-BBBB")  # a page: a 503 page, not a traceback
        assert page.status == 503 and b"Temporarily unavailable" in page.body and b"Traceback" not in page.body
        info = service.get("/userinfo", bearer=ok.body["access_token"])
        assert info.status == 503 and info.body["error"] == "temporarily_unavailable"
        relay.restore()
        again = service.refresh(refresh_token)
        assert again.status == 200, again.body
        assert service.get("/health").body["status"] == "ok"
    finally:
        relay.restore()
        service.stop()


def test_connections_that_died_while_idle_are_replaced_before_use(config_file, db_url):
    """A database restart between two requests costs nothing: a connection idle for a second is pinged first."""
    if not db_url.startswith("mysql"):
        pytest.skip("the restart is simulated on the MariaDB connection")
    relay = Relay(("127.0.0.1", 3306))
    service = Service(config_file, db_url.replace("@127.0.0.1/", f"@127.0.0.1:{relay.port}/"))
    try:
        refresh_token = issue_grant(service)
        assert service.refresh(refresh_token).status == 200
        relay.cut()  # every pooled connection dies while idle
        relay.restore()
        time.sleep(PING_AFTER_IDLE + 0.2)
        for _ in range(3):
            reply = service.refresh(refresh_token)
            assert reply.status == 200, reply.body
    finally:
        relay.restore()
        service.stop()
