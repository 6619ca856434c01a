"""Races on the flow store, over the real service and both databases, many trials, asserting end states:
device-code polls and decisions, and rate-limit counters (no lost update, no duplicate-key error)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from gridauth.db.engine import Database
from gridauth.db.flows import FlowStore
from gridauth.db.models import DeviceFlowRow, GrantRow, RateLimitRow
from gridauth.db.schema import upgrade

from .conftest import Browser
from .test_device_flow import poll, start

TRIALS = 5


def parallel(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(0..n-1) on n threads released at once; their results (or exceptions), in order."""
    results: list[Any] = [None] * n
    gate = threading.Barrier(n)

    def run(i: int) -> None:
        gate.wait(timeout=30)
        try:
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - the test asserts on it
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def approve_in_store(service, user_code: str) -> bool:
    """Approve as the verification page does, through the same storage call."""
    now = service.clock.now()
    return service.context.flows.decide_device_flow(user_code, now, True, username="alice", group_name="dteam_user",
                                                    vo="dteam", properties="", auth_time=now, idp="local")


def flow_row(service, user_code: str) -> DeviceFlowRow:
    with service.context.db.transaction() as session:
        row = session.scalar(select(DeviceFlowRow).where(DeviceFlowRow.user_code == user_code))
    assert row is not None
    return row


def test_parallel_polls_of_an_approved_device_code_issue_tokens_once(service):
    for _ in range(TRIALS):
        flow = start(service)
        assert approve_in_store(service, flow["user_code"])
        grants_before = service.count(GrantRow)
        replies = parallel(6, lambda _, code=flow["device_code"]: poll(service, code))
        statuses = Counter(r.status for r in replies)
        assert statuses == {200: 1, 400: 5}, [r.body for r in replies]
        assert {r.body["error"] for r in replies if r.status == 400} == {"invalid_grant"}
        assert service.count(GrantRow) == grants_before + 1
        assert flow_row(service, flow["user_code"]).status == "consumed"


FAILING_INSERT = {  # a fault at the database: storing a grant fails, as on a full disk
    "sqlite": ["CREATE TRIGGER no_grants BEFORE INSERT ON grants BEGIN SELECT RAISE(ABORT, 'disk full'); END"],
    "mysql": ["CREATE TRIGGER no_grants BEFORE INSERT ON grants FOR EACH ROW "
              "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'disk full'"],
}


def test_a_device_code_is_consumed_only_with_its_grant(service):
    """The flow's consumption and its grant are one transaction: a failed grant insert leaves the flow approved."""
    flow = start(service)
    assert approve_in_store(service, flow["user_code"])
    db = service.context.db
    with db.connect() as connection:
        for statement in FAILING_INSERT[db.engine.dialect.name]:
            connection.exec_driver_sql(statement)
    try:
        assert poll(service, flow["device_code"]).status in (500, 503)  # SQLite: an IntegrityError; MariaDB: an error
        assert flow_row(service, flow["user_code"]).status == "approved"
    finally:
        with db.connect() as connection:
            connection.exec_driver_sql("DROP TRIGGER no_grants")
    service.clock.advance(10)
    reply = poll(service, flow["device_code"])
    assert reply.status == 200, reply.body
    assert flow_row(service, flow["user_code"]).status == "consumed"


def test_parallel_polls_of_a_pending_device_code_each_see_the_one_before(service):
    """One poll is pending, every other one is too fast, and each slow_down grows the interval by 5 s."""
    for _ in range(TRIALS):
        flow = start(service)
        replies = parallel(5, lambda _, code=flow["device_code"]: poll(service, code))
        errors = Counter(r.body["error"] for r in replies)
        assert errors == {"authorization_pending": 1, "slow_down": 4}, errors
        row = flow_row(service, flow["user_code"])
        assert row.interval == flow["interval"] + 4 * 5 and service.clock.now() - row.last_polled_at <= 2


def test_an_approval_racing_a_deny_or_the_expiry_ends_in_one_state(service):
    flows = service.context.flows
    for _ in range(TRIALS):
        flow = start(service)
        now = service.clock.now()

        def decide(i: int, user_code: str = flow["user_code"], now: int = now) -> bool:
            if i % 2:
                return flows.decide_device_flow(user_code, now, False)
            return approve_in_store(service, user_code)

        won = parallel(4, decide)
        assert won.count(True) == 1, won
        status = flow_row(service, flow["user_code"]).status
        assert status == ("approved" if won.index(True) % 2 == 0 else "denied")
        # An approval at the expiry and polls after it: nothing is approved, every poll says expired.
        late = start(service)
        service.clock.advance(late["expires_in"])
        results = parallel(4, lambda i, late=late: approve_in_store(service, late["user_code"]) if i % 2
                           else poll(service, late["device_code"]))
        assert results[1] is False and results[3] is False
        assert {r.body["error"] for r in results[0::2]} == {"expired_token"}
        assert flow_row(service, late["user_code"]).status == "pending"


def test_a_poll_racing_the_approval_is_pending_or_gets_the_tokens(service):
    for _ in range(TRIALS):
        flow = start(service)
        service.clock.advance(10)
        results = parallel(2, lambda i, flow=flow: approve_in_store(service, flow["user_code"]) if i
                           else poll(service, flow["device_code"]))
        assert results[1] is True
        first = results[0]
        assert first.status == 200 or first.body["error"] == "authorization_pending", first.body
        service.clock.advance(10)
        second = poll(service, flow["device_code"])
        assert (first.status, second.status) in ((200, 400), (400, 200)), (first.body, second.body)
        assert flow_row(service, flow["user_code"]).status == "consumed"


def test_parallel_counts_of_one_key_are_exact_and_first_counts_of_a_new_key_never_collide(db_url):
    db = Database(db_url, workers=8)
    upgrade(db)
    flows = FlowStore(db)
    try:
        for trial in range(TRIALS):
            key = f"login-user:new-{trial}"
            # A new key: every first attempt inserts or updates, none fails on a duplicate key.
            counts = parallel(12, lambda _, key=key: flows.count_attempt(key, 1000, 300))
            assert sorted(counts) == list(range(1, 13)), counts
            # A running window: no lost update.
            more = parallel(12, lambda _, key=key: flows.count_attempt(key, 1100, 300))
            assert sorted(more) == list(range(13, 25)), more
            # A window that ended: exactly one attempt starts the new one, the others count on it.
            fresh = parallel(12, lambda _, key=key: flows.count_attempt(key, 1300, 300))
            assert sorted(fresh) == list(range(1, 13)), fresh
            with db.transaction() as session:
                row = session.get(RateLimitRow, key)
                assert row is not None and (row.count, row.window_start) == (12, 1300)
    finally:
        db.close()


def test_parallel_failed_logins_are_each_counted_and_never_fail(service, accounts):
    """Failed sign-ins on the real pages: every one counted under the user and the address, no 500."""
    for trial in range(4):  # 11 attempts a trial: four fit in the address's budget of 50
        username = f"nobody-{trial}"
        browsers = [Browser(service) for _ in range(10)]
        pages = [b.follow("/login")[1] for b in browsers]
        replies = parallel(10, lambda i, b=browsers, p=pages, u=username: b[i].login(p[i], u, "wrong"))
        assert Counter(status for status, _, _ in replies) == {401: 10}, [r[0] for r in replies]
        with service.context.db.transaction() as session:
            assert session.get(RateLimitRow, f"login-user:{username}").count == 10
            assert session.get(RateLimitRow, "login-ip:127.0.0.1").count == 11 * trial + 10
        # The eleventh attempt is refused before any password is checked (and counted: an attempt all the same).
        status, _, _ = browsers[0].login(browsers[0].follow("/login")[1], username, "wrong")
        assert status == 429
