"""Guessing passwords and device user codes, on the real pages, on SQLite and MariaDB.

Each attempt is counted before it is checked (``db/guessing.py``): parallel guesses, on two services
sharing one database as two hosts would, never get more checks than the budget; a blocked address is
refused every user code, the right one too; an unknown name costs the same password check as a known
one (asserted by what the checker ran, never by timing); the checks run on their own bounded threads.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select

from gridauth.admin import edits
from gridauth.db.engine import SERVER_WORKERS, SQLITE_WORKERS
from gridauth.db.guessing import LOGIN_LIMIT, USER_CODE_LIMIT, USER_CODE_WINDOW
from gridauth.db.models import RateLimitRow, SessionRow
from gridauth.hashing import PASSWORDS, PasswordChecker, PasswordChecksBusy

from .conftest import PASSWORDS as PASSWORD_OF
from .conftest import SERVICE, Browser, Service
from .test_device_flow import start
from .test_flow_races import parallel


def counter(service: Service, key: str) -> int:
    """The count of rate-limit counter *key* (0 when it has none)."""
    with service.context.db.transaction() as session:
        row = session.get(RateLimitRow, key)
        return row.count if row else 0


def live_sessions(service: Service, username: str) -> int:
    """How many live SSO sessions *username* has."""
    with service.context.db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(SessionRow).where(
            SessionRow.username == username, SessionRow.revoked_at.is_(None))) or 0)


def login(browser: Browser, username: str, password: str) -> int:
    """Open the login page and sign in; the final status (200: signed in and home, 401, 429 or 503)."""
    _, page, _ = browser.follow("/login")
    return browser.login(page, username, password)[0]


def test_parallel_guesses_on_two_hosts_check_at_most_the_budget(service, accounts, config_file, db_url):
    """Many parallel sign-ins for one user, one of them right, spread over two services on one database."""
    other_host = Service(config_file, db_url)
    try:
        attempts, right = 3 * LOGIN_LIMIT, 2 * LOGIN_LIMIT  # the right password comes with the others
        browsers = [Browser(service if i % 2 else other_host) for i in range(attempts)]
        pages = [b.follow("/login")[1] for b in browsers]
        replies = parallel(attempts, lambda i: browsers[i].login(
            pages[i], "bob", PASSWORD_OF["bob"] if i == right else "wrong")[0])
        statuses = Counter(replies)
        assert set(statuses) <= {200, 401, 429}, replies
        # Exactly the budget was checked; every other attempt was refused unchecked.
        assert statuses[200] + statuses[401] == LOGIN_LIMIT and statuses[429] == attempts - LOGIN_LIMIT, statuses
        assert live_sessions(service, "bob") == statuses[200] == (replies[right] == 200)
        # Counters exact: every attempt counted once under the name and the address; a right one taken back.
        assert counter(service, "login-user:bob") == counter(service, "login-ip:127.0.0.1") == attempts - statuses[200]
        # Once over the budget, the right password does not sign in either.
        assert login(Browser(other_host), "bob", PASSWORD_OF["bob"]) == 429
        assert live_sessions(service, "bob") == statuses[200]
    finally:
        other_host.stop()


def test_a_right_password_is_taken_back_and_ten_failures_still_lock(service, accounts):
    browser = Browser(service)
    for _ in range(3):
        assert login(browser, "carol", PASSWORD_OF["carol"]) == 200
    with service.context.db.transaction() as session:  # taken back to zero: no row is left behind
        assert session.get(RateLimitRow, "login-user:carol") is None
    assert [login(browser, "carol", "wrong") for _ in range(LOGIN_LIMIT + 1)] == [401] * LOGIN_LIMIT + [429]
    assert counter(service, "login-user:carol") == LOGIN_LIMIT + 1


def test_a_blocked_address_is_refused_every_user_code_the_right_one_too(service):
    flow = start(service)
    browser = Browser(service)
    right = "/device?user_code=" + flow["user_code"]
    for _ in range(3):  # the right code costs nothing: a person may open the link twice
        assert 'name="password"' in browser.follow(right)[1]
    wrong = [browser.follow("/device?user_code=BBBB-BBBB")[0] for _ in range(USER_CODE_LIMIT + 1)]
    assert wrong == [400] * USER_CODE_LIMIT + [429]
    status, page, _ = browser.follow(right)
    assert status == 429 and 'name="password"' not in page  # no oracle: the right code is refused as well
    assert counter(service, "user-code:127.0.0.1") == USER_CODE_LIMIT + 2
    service.clock.advance(USER_CODE_WINDOW + 1)  # a new window (and a new flow: the first one expired)
    assert 'name="password"' in browser.follow("/device?user_code=" + start(service)["user_code"])[1]


def test_parallel_user_codes_check_at_most_the_budget(service):
    flow = start(service)
    attempts = 3 * USER_CODE_LIMIT
    browsers = [Browser(service) for _ in range(attempts)]
    replies = parallel(attempts, lambda i: browsers[i].follow(
        "/device?user_code=" + (flow["user_code"] if i == attempts - 1 else "BBBB-BBBB"))[0])
    statuses = Counter(replies)
    found = statuses[200]  # the right code, when it came within the budget
    assert statuses[400] + found == USER_CODE_LIMIT and statuses[429] == attempts - USER_CODE_LIMIT, statuses
    assert counter(service, "user-code:127.0.0.1") == attempts - found


def test_unknown_names_cost_the_same_password_check_as_known_ones(service, accounts):
    """Timing tells nothing when every sign-in runs one PBKDF2 check: of the user's hash, or of the dummy."""
    browser = Browser(service)
    service.edit(lambda cfg: edits.user_add(cfg, "dave", groups=["dteam_user"]))  # no password set
    cases = [("bob", "wrong", 401, 0), ("mallory", "wrong", 401, 1), ("dave", "wrong", 401, 1),
             ("", "", 401, 1), ("bob", PASSWORD_OF["bob"], 200, 0)]
    for username, password, status, dummy in cases:
        checks, dummies = PASSWORDS.checks, PASSWORDS.dummy_checks
        assert login(browser, username, password) == status, username
        assert (PASSWORDS.checks - checks, PASSWORDS.dummy_checks - dummies) == (1, dummy), username


def test_password_checks_run_on_their_own_threads_not_the_database_workers(service, accounts, helpers):
    """Sign-ins waiting for password checks hold no database worker: the token endpoint still answers."""
    gate = threading.Event()
    blockers = [PASSWORDS.executor.submit(gate.wait, 60) for _ in range(PASSWORDS.workers)]
    sqlite = service.context.db.engine.dialect.name == "sqlite"
    waiting = (SQLITE_WORKERS if sqlite else SERVER_WORKERS) + 2  # more sign-ins than database workers
    try:
        results: list[Any] = []
        threads = [threading.Thread(target=lambda: results.append(login(Browser(service), "alice",
                                                                         PASSWORD_OF["alice"])))
                   for _ in range(waiting)]
        for thread in threads:
            thread.start()
        helpers.wait_for(lambda: PASSWORDS.waiting == waiting, timeout=30, what="the sign-ins to wait for checks")
        reply = service.post("/token", {"grant_type": "client_credentials"}, auth=SERVICE)
        assert reply.status == 200, reply.body
    finally:
        gate.set()
    for thread in threads:
        thread.join(timeout=60)
    assert results == [200] * waiting and all(b.result() for b in blockers)


def test_a_sign_in_beyond_the_checkers_bound_gets_a_busy_page_at_once(service, helpers):
    """With every check thread held and the queue full, one more sign-in is a 503 page, not a longer queue."""
    gate = threading.Event()
    blockers = [PASSWORDS.executor.submit(gate.wait, 60) for _ in range(PASSWORDS.workers)]
    full = PASSWORDS.max_waiting
    browsers = [Browser(service) for _ in range(full + 1)]
    pages = [b.follow("/login")[1] for b in browsers]
    results: list[Any] = [None] * full
    try:
        threads = [threading.Thread(target=lambda i=i: results.__setitem__(
            i, browsers[i].login(pages[i], f"stranger-{i}", "wrong")[0])) for i in range(full)]
        for thread in threads:
            thread.start()
        helpers.wait_for(lambda: PASSWORDS.waiting == full, timeout=30, what="the checker to fill up")
        status, page, _ = browsers[full].login(pages[full], "stranger-last", "wrong")
        assert status == 503 and "Too many sign-ins are being checked right now" in page
    finally:
        gate.set()
    for thread in threads:
        thread.join(timeout=120)
    assert results == [401] * full and all(b.result() for b in blockers)
    assert counter(service, "login-user:stranger-last") == 1  # refused, but counted all the same


def test_a_full_password_checker_refuses_at_once():
    """The checker's queue is bounded: one check more than it takes is refused, not queued."""
    checker = PasswordChecker(workers=1, waiting=1)
    gate = threading.Event()
    checker.executor.submit(gate.wait, 60)

    async def two_checks() -> bool:
        first = asyncio.ensure_future(checker.verify("x", None))
        await asyncio.sleep(0)
        with pytest.raises(PasswordChecksBusy):
            await checker.verify("y", None)
        gate.set()
        return await first

    try:
        assert asyncio.run(two_checks()) is False
    finally:
        gate.set()
        checker.executor.shutdown()
    assert (checker.checks, checker.dummy_checks, checker.waiting) == (1, 1, 0)
