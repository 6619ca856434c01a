"""Grants and access tokens under concurrency, and what the database holds for them.

Every state change is one transaction: races between refreshes, revocations and code exchanges
are run many times against a real service (threads over HTTP, SQLite and MariaDB), and the end
state is checked: no token a revocation or a replay should have ended stays active, and exactly
one access token per grant is active after parallel refreshes. Access tokens are not stored: a
client's token writes nothing, a refresh writes the grant's row only (counted by statement).
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import event, func, insert, select
from sqlalchemy.engine import Engine

from gridauth.db.batches import PURGE_BATCH
from gridauth.db.models import Base, GrantRow, RevokedTokenRow

from .conftest import PORTAL, SERVICE, Browser, Service, issue_grant
from .test_code_flow import authorize_url, exchange, login_and_get_code

TRIALS = 10
REFRESHES = 20
WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b(?:\s+OR\s+IGNORE|\s+IGNORE)?(?:\s+INTO|\s+FROM)?\s+[`\"]?(\w+)",
                   re.IGNORECASE)


@contextlib.contextmanager
def writes(engine: Engine) -> Iterator[Counter[tuple[str, str]]]:
    """Count the statements that write, by (verb, table), while the block runs."""
    counts: Counter[tuple[str, str]] = Counter()

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if match := WRITE.match(statement):
            counts[(match.group(1).upper(), match.group(2))] += 1
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield counts
    finally:
        event.remove(engine, "before_cursor_execute", count)


def rows(service: Service) -> dict[str, int]:
    """How many rows each table holds."""
    with service.context.db.transaction() as session:
        return {table.name: int(session.scalar(select(func.count()).select_from(table)) or 0)
                for table in Base.metadata.sorted_tables}


def together(*jobs: Callable[[], None]) -> None:
    """Run *jobs* in threads that start at the same moment; wait for all."""
    barrier = threading.Barrier(len(jobs))

    def run(job: Callable[[], None]) -> None:
        barrier.wait()
        job()
    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def active(service: Service, token: str) -> bool:
    """Whether introspection says *token* is active; /userinfo must agree for an access token (a user's)."""
    info = service.introspect(token)
    if token.count(".") == 2 and (not info["active"] or "dirac_group" in info):
        userinfo = service.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
        assert (userinfo.status == 200) is info["active"], (userinfo.status, info)
    return bool(info["active"])


# -- races -------------------------------------------------------------------------------------------

def refresh_into(service: Service, rt: str, issued: list[str], may_fail: bool = False) -> Callable[[], None]:
    """A job that refreshes *rt* once and keeps the access token it got in *issued*."""
    def job() -> None:
        reply = service.refresh(rt)
        if reply.status == 200:
            issued.append(reply.body["access_token"])
        else:
            assert may_fail and (reply.status, reply.body["error"]) == (400, "invalid_grant"), reply.body
    return job


def test_refreshes_racing_a_revocation_leave_nothing_active(service: Service) -> None:
    for _ in range(TRIALS):
        rt = issue_grant(service)
        issued: list[str] = []
        refresh = refresh_into(service, rt, issued, may_fail=True)
        revoke = functools.partial(service.post, "/revoke", {"token": rt}, auth=PORTAL)
        together(*[refresh] * (REFRESHES // 2), revoke, *[refresh] * (REFRESHES // 2))
        assert not active(service, rt)
        assert [token for token in issued if active(service, token)] == []


def test_parallel_refreshes_of_one_grant_leave_exactly_one_active_token(service: Service) -> None:
    for _ in range(TRIALS // 2):
        rt = issue_grant(service)
        issued: list[str] = []
        together(*[refresh_into(service, rt, issued)] * REFRESHES)
        assert len(issued) == REFRESHES
        assert sum(active(service, token) for token in issued) == 1


def exchange_into(service: Service, code: str, replies: list[Any]) -> Callable[[], None]:
    """A job that exchanges *code* once and keeps the reply in *replies*."""
    return lambda: replies.append(exchange(service, code))


def test_parallel_exchanges_of_one_code_leave_nothing_active(service: Service, accounts: dict[str, str]) -> None:
    browser = Browser(service)
    for _ in range(TRIALS):
        code = login_and_get_code(browser, authorize_url())["code"][0]
        replies: list[Any] = []
        together(*[exchange_into(service, code, replies)] * 2)
        statuses = sorted(reply.status for reply in replies)
        assert statuses in ([200, 400], [400, 400]), [reply.body for reply in replies]
        for reply in replies:
            if reply.status == 400:
                assert reply.body["error"] == "invalid_grant", reply.body
                continue
            assert not active(service, reply.body["access_token"])
            assert not active(service, reply.body["refresh_token"])
            assert service.refresh(reply.body["refresh_token"]).body["error"] == "invalid_grant"
    with service.context.db.transaction() as session:  # every grant made by a winner ended revoked
        assert session.scalar(select(func.count()).select_from(GrantRow).where(GrantRow.revoked_at.is_(None))) == 0


def test_a_replay_after_the_exchange_revokes_its_tokens_and_userinfo_refuses(service: Service,
                                                                              accounts: dict[str, str]) -> None:
    code = login_and_get_code(Browser(service), authorize_url())["code"][0]
    first = exchange(service, code).body
    assert active(service, first["access_token"])
    assert exchange(service, code).body["error"] == "invalid_grant"
    assert not active(service, first["access_token"]) and not active(service, first["refresh_token"])


# -- what is written ---------------------------------------------------------------------------------

def test_a_client_credentials_token_writes_nothing(service: Service) -> None:
    service.post("/token", {"grant_type": "client_credentials"}, auth=SERVICE)  # the signing key is loaded
    before = rows(service)
    with writes(service.context.db.engine) as counted:
        replies = [service.post("/token", {"grant_type": "client_credentials"}, auth=SERVICE) for _ in range(5)]
    assert [reply.status for reply in replies] == [200] * 5
    assert counted == Counter() and rows(service) == before
    assert all(active(service, reply.body["access_token"]) for reply in replies)  # several may be active


def test_a_refresh_writes_only_the_grant_row(service: Service) -> None:
    rt = issue_grant(service)
    assert service.refresh(rt).status == 200
    before = rows(service)
    with writes(service.context.db.engine) as counted:
        for _ in range(3):
            assert service.refresh(rt).status == 200
    assert counted == Counter({("UPDATE", "grants"): 3})
    assert rows(service) == before


def test_the_database_holds_one_row_per_grant_whatever_the_traffic(service: Service) -> None:
    rts = [issue_grant(service) for _ in range(3)]
    for _ in range(5):
        for rt in rts:
            service.refresh(rt)
        service.post("/token", {"grant_type": "client_credentials"}, auth=SERVICE)
    counts = rows(service)
    assert counts["grants"] == 3 and counts["revoked_tokens"] == 0 and counts["legacy_tokens"] == 0


# -- when an access token stops being active --------------------------------------------------------

def test_introspection_and_userinfo_refuse_a_token_once_its_grant_refreshed(service: Service) -> None:
    rt = issue_grant(service)
    first = service.refresh(rt).body["access_token"]
    assert active(service, first)
    second = service.refresh(rt).body["access_token"]
    assert not active(service, first)
    reply = service.get("/userinfo", headers={"Authorization": f"Bearer {first}"})
    assert reply.status == 401 and reply.body["error"] == "invalid_token"
    assert active(service, second)


def test_revoking_one_access_token_denies_it_alone(service: Service) -> None:
    rt = issue_grant(service)
    user_token = service.refresh(rt).body["access_token"]
    client_tokens = [service.post("/token", {"grant_type": "client_credentials"}, auth=SERVICE).body["access_token"]
                     for _ in range(2)]
    for token, client in ((user_token, PORTAL), (client_tokens[0], SERVICE)):
        assert service.post("/revoke", {"token": token}, auth=client).status == 200
        assert service.post("/revoke", {"token": token}, auth=client).status == 200  # twice is harmless
        assert not active(service, token)
    assert active(service, client_tokens[1]) and active(service, rt)
    assert rows(service)["revoked_tokens"] == 2
    assert active(service, service.refresh(rt).body["access_token"])
    service.clock.advance(1201)  # the denied tokens expired: their rows go
    assert service.context.tokens.purge_expired(service.clock.now())["revoked_tokens"] == 2


def test_revoking_a_grant_and_a_users_grants(service: Service) -> None:
    alice = [issue_grant(service) for _ in range(2)]
    bob = issue_grant(service, username="bob")
    tokens = {rt: service.refresh(rt).body["access_token"] for rt in [*alice, bob]}
    assert service.post("/revoke", {"token": alice[0]}, auth=PORTAL).status == 200
    assert not active(service, tokens[alice[0]]) and active(service, tokens[alice[1]])
    assert service.context.tokens.revoke_user_grants("alice", service.clock.now()) == 1
    assert not active(service, tokens[alice[1]]) and not active(service, alice[1])
    assert active(service, tokens[bob]) and service.refresh(bob).status == 200
    assert service.refresh(alice[1]).body["error"] == "invalid_grant"


def test_a_grant_row_stays_while_an_access_token_from_it_lives(service: Service) -> None:
    service.edit(lambda cfg: cfg.setOption(
        "DIRAC/Security/Authorization/Clients/example-portal/RefreshTokenLifetime", "600"))
    rt = issue_grant(service)
    service.clock.advance(590)
    token = service.refresh(rt).body["access_token"]  # lives 1200 s, past the grant's 600 s
    service.clock.advance(20)
    assert service.refresh(rt).body["error"] == "invalid_grant"  # the refresh token expired...
    service.context.purge()
    assert active(service, token)  # ...its access token lives on, as before
    service.clock.advance(1200 + 60)
    assert service.context.purge()["grants"] == 1


# -- purge -------------------------------------------------------------------------------------------

def test_purge_deletes_in_small_batches_on_indexed_columns(service: Service) -> None:
    now = service.clock.now()
    many = 2 * PURGE_BATCH + 500
    with service.context.db.transaction() as session:
        session.execute(insert(GrantRow), [
            {"id": f"{n:032x}", "refresh_token_hash": None, "client_id": "c", "username": "u", "group_name": "g",
             "vo": "v", "scope": "", "auth_time": 0, "issued_at": 0, "expires_at": now - 10, "revoked_at": None,
             "idp": None, "generation": 0, "last_used_at": None, "purge_at": now - 1} for n in range(many)])
        session.execute(insert(RevokedTokenRow), [{"jti": f"j{n}", "expires_at": now - 1} for n in range(many)])
    live = issue_grant(service)
    statements: list[str] = []

    def keep(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)
    engine = service.context.db.engine
    event.listen(engine, "before_cursor_execute", keep)
    try:
        counts = service.context.tokens.purge_expired(now)
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    assert counts == {"grants": many, "revoked_tokens": many, "legacy_tokens": 0}
    deletes = [s for s in statements if s.lstrip().upper().startswith("DELETE")]
    assert len(deletes) == 2 * 3  # three batches per table, each its own transaction
    assert not any(" OR " in s.upper() for s in statements)
    assert service.refresh(live).status == 200
