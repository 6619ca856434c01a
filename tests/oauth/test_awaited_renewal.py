"""On MariaDB, a carried refresh token's renewal is sent from the IOLoop and awaited there (``db/awaited.py``).

No worker thread waits on the round trip; the rules are those of any refresh; a connection lost or a
server that does not answer is a 503 (never a 500), and the next request gets a new connection. Over
real HTTP and on a real MariaDB database (``GRIDAUTH_TEST_MYSQL``); nothing is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine

from gridauth.db.engine import OUTAGE_HOLD, Database
from gridauth.db.schema import upgrade
from gridauth.db.tokens import NewGrant, Renewal, TokenStore
from gridauth.errors import DatabaseUnavailable

from .conftest import issue_grant

NOW = 1_800_000_000


@pytest.fixture
def mysql_url(db_url: str) -> str:
    if not db_url.startswith("mysql"):
        pytest.skip("the renewal is awaited on the IOLoop on MySQL/MariaDB only")
    return db_url


@contextlib.contextmanager
def renewal_threads(engine: Engine) -> Iterator[list[str]]:
    """The names of the threads that ran each UPDATE of the grants table while the block runs."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("UPDATE grants"):
            seen.append(threading.current_thread().name)
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def kill_other_connections(url: str) -> int:
    """KILL every connection to *url*'s database but the killer's own; how many."""
    killer = create_engine(url)
    try:
        with killer.connect() as conn:
            ids = conn.execute(text("SELECT id FROM information_schema.processlist "
                                    "WHERE db = DATABASE() AND id <> CONNECTION_ID()")).scalars().all()
            for victim in ids:
                with contextlib.suppress(Exception):  # gone already
                    conn.execute(text(f"KILL {int(victim):d}"))
        return len(ids)
    finally:
        killer.dispose()


def test_a_carried_refresh_is_renewed_on_the_ioloop_and_a_plain_one_on_a_worker(service, mysql_url):
    carried, plain = issue_grant(service), issue_grant(service, carried=False)
    engine = service.context.db.engine
    with renewal_threads(engine) as threads:
        first = service.refresh(carried)
        assert first.status == 200, first.body
        second = service.refresh(carried)
        assert second.status == 200, second.body
    assert threads == ["gridauth", "gridauth"]  # the service's IOLoop thread (tests/harness.py)
    # The rules are any refresh's: the earlier access token of the grant is ended, no new refresh token.
    assert "refresh_token" not in second.body
    assert service.introspect(first.body["access_token"]) == {"active": False}
    assert service.introspect(second.body["access_token"])["active"] is True
    with renewal_threads(engine) as threads:
        assert service.refresh(plain).status == 200
    assert len(threads) == 1 and threads[0].startswith("gridauth-db")


def test_a_revoked_grants_carried_token_is_refused_after_its_awaited_renewal(service, mysql_url):
    token = issue_grant(service)
    assert service.refresh(token).status == 200
    grant = service.context.tokens.grant_by_refresh_token(token)
    assert grant is not None
    service.context.tokens.revoke_grant(grant.id, service.clock.now())
    reply = service.refresh(token)
    assert reply.status == 400
    assert reply.body == {"error": "invalid_grant", "error_description": "the refresh token was revoked"}


def test_a_killed_connection_is_a_503_then_replaced(service, mysql_url):
    token = issue_grant(service)
    assert service.refresh(token).status == 200  # the awaited connection is open now
    assert kill_other_connections(mysql_url) >= 1
    reply = service.refresh(token)
    assert reply.status == 503, reply.body
    assert reply.body["error"] == "temporarily_unavailable"
    deadline = time.monotonic() + 10
    while (reply := service.refresh(token)).status == 503 and time.monotonic() < deadline:
        time.sleep(0.2)  # the outage gate may hold a moment after a failure
    assert reply.status == 200, reply.body


def test_no_answer_within_the_query_timeout_is_an_outage_and_the_connection_is_dropped(mysql_url):
    db = Database(mysql_url, query_timeout=1)
    try:
        upgrade(db)
        tokens = TokenStore(db)
        grant = tokens.create_grant(NewGrant(client_id="c", username="alice", group="dteam", vo="dteam",
                                             scope="openid", auth_time=NOW, issued_at=NOW, expires_at=NOW + 3600),
                                    "rt")
        row = tokens.grant(grant.id)
        assert row is not None
        blocker = create_engine(mysql_url)
        with blocker.connect() as conn:
            conn.execute(text("SELECT id FROM grants WHERE id = :id FOR UPDATE"), {"id": grant.id})  # holds the lock
            started = time.monotonic()
            with pytest.raises(DatabaseUnavailable):
                asyncio.run(tokens.refresh_awaited(Renewal(row, "rt", NOW, NOW + 600)))
            assert time.monotonic() - started < 4
            conn.rollback()
        blocker.dispose()
        time.sleep(OUTAGE_HOLD + 0.2)  # the outage gate's hold after a slow failure; the next call probes

        async def renew_twice() -> list[int | None]:
            renewed = [await tokens.refresh_awaited(Renewal(row, "rt", NOW, NOW + 600)) for _ in range(2)]
            return [r.generation if r else None for r in renewed]
        first, second = asyncio.run(renew_twice())
        assert first is not None and second == first + 1  # a new connection; the grant renewed in turn
        assert asyncio.run(tokens.refresh_awaited(Renewal(row, "not-its-token", NOW, NOW + 600))) is None
    finally:
        db.close()
