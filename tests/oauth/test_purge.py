"""The purge at scale: small batches, each its own transaction, while the service keeps answering; one purger
at a time across processes (the purge lease); ended sessions go with the expired ones. SQLite and MariaDB."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any

import pytest
from sqlalchemy import event, insert, select, update

from gridauth.config.reload import RegistryHolder
from gridauth.db.engine import Database
from gridauth.db.lease import Lease
from gridauth.db.models import DeviceFlowRow, RateLimitRow, SessionRow
from gridauth.errors import GridauthError
from gridauth.service import PURGE_DUE_AFTER, PURGE_INTERVAL, ServiceContext

from .conftest import SERVICE, Browser
from .test_flow_races import parallel


def fill_expired_device_flows(service, rows: int) -> None:
    """*rows* device flows that expired an hour ago, inserted in bulk."""
    gone = service.clock.now() - 3600
    with service.context.db.transaction() as session:
        for start in range(0, rows, 5000):
            session.execute(insert(DeviceFlowRow), [
                {"device_code_hash": f"{i:064x}", "user_code": f"U{i:015d}", "client_id": "gridauth-cli", "scope": "",
                 "status": "pending", "interval": 5, "expires_at": gone - i % 600}
                for i in range(start, min(rows, start + 5000))])


def second_context(service, db_url: str) -> ServiceContext:
    """Another process's view of the same database (its own engine and pool), on the same clock."""
    return ServiceContext(RegistryHolder(service.config), Database(db_url), service.clock)


def test_a_big_purge_is_many_short_transactions_and_the_service_keeps_answering(service):
    fill_expired_device_flows(service, 12_000)
    service.context.flows.create_session("live", "alice", "local", None, service.clock.now(), service.clock.now() + 60)
    commits: list[int] = []
    purger: list[int] = []
    event.listen(service.context.db.engine, "commit", lambda _conn: commits.append(threading.get_ident()))
    replies: list[int] = []
    done = threading.Event()

    def client() -> None:
        while not done.is_set():
            replies.append(service.post("/token", {"grant_type": "client_credentials"}, auth=SERVICE).status)

    thread = threading.Thread(target=client)
    thread.start()
    try:
        purger.append(threading.get_ident())
        counts = service.context.purge()
    finally:
        done.set()
        thread.join(timeout=60)
    assert counts["device_flows"] == 12_000 and counts["sessions"] == 0
    assert service.count(DeviceFlowRow) == 0 and service.count(SessionRow) == 1
    purge_commits = commits.count(purger[0])
    assert purge_commits >= 13, "12 batches of 1,000 device flows, each committed on its own"
    assert replies and set(replies) == {200}, f"{len(replies)} requests during the purge: {set(replies)}"


def test_two_processes_purging_at_once_one_purges_and_the_other_skips(service, db_url):
    other = second_context(service, db_url)
    try:
        for _ in range(3):
            fill_expired_device_flows(service, 3000)
            results: list[Any] = parallel(2, lambda i: (service.context, other)[i].purge_if_due())
            assert [r is None for r in results].count(True) == 1, results
            done = next(r for r in results if r is not None)
            assert done["device_flows"] == 3000 and service.count(DeviceFlowRow) == 0
            # Not due again until the interval passed, for either process.
            assert service.context.purge_if_due() is None and other.purge_if_due() is None
            service.clock.advance(PURGE_DUE_AFTER + 1)
    finally:
        other.db.close()


def test_the_lease_one_purger_at_a_time_due_once_per_interval_dead_holders_time_out(service, db_url):
    context = service.context
    running = Lease(context.db, "purge")  # another process, in the middle of its purge
    assert running.acquire(service.clock.now(), PURGE_INTERVAL)
    assert context.purge_if_due() is None
    with pytest.raises(GridauthError, match="another process is purging"):
        context.purge()
    base = [sys.executable, "-m", "gridauth.cli.main", "db", "purge", "--config", str(service.config), "--db", db_url]
    cli = subprocess.run(base, capture_output=True, text=True, timeout=60)
    assert cli.returncode == 1 and cli.stderr.startswith("gridauth: error: another process is purging"), cli.stderr
    # It finished: the operator's purge runs at once, the periodic one waits for its interval.
    running.release(service.clock.now(), PURGE_DUE_AFTER)
    assert context.purge()["device_flows"] == 0
    assert context.purge_if_due() is None
    service.clock.advance(PURGE_DUE_AFTER + 1)
    assert context.purge_if_due() is not None
    # A holder that died in its purge keeps others out until its lease runs out, not forever.
    service.clock.advance(PURGE_DUE_AFTER + 1)
    dead = Lease(context.db, "purge")
    assert dead.acquire(service.clock.now(), PURGE_INTERVAL)
    assert context.purge_if_due() is None
    service.clock.advance(PURGE_INTERVAL)
    assert context.purge_if_due() is not None


def test_a_purger_that_lost_its_lease_undoes_its_batch_and_stops(service):
    fill_expired_device_flows(service, 2500)
    lease = Lease(service.context.db, "purge")
    assert lease.acquire(service.clock.now(), PURGE_INTERVAL)
    with service.context.db.transaction() as session:  # another process took over (say, after a long pause)
        session.execute(update(RateLimitRow).where(RateLimitRow.key == lease.key).values(count=lease.holder + 1))
    counts = service.context.flows.purge_expired(
        service.clock.now(), still_ours=lambda session: lease.renew(session, service.clock.now(), PURGE_INTERVAL))
    assert counts["device_flows"] == 0 and service.count(DeviceFlowRow) == 2500


def test_ended_sessions_and_old_counters_are_purged_and_the_lease_is_kept(service, accounts):
    browser = Browser(service)
    _, page, _ = browser.follow("/login")
    browser.login(page, "alice", "alice-password")
    _, page, _ = browser.follow("/logout")
    browser.submit(page, "/logout", logout="1")  # the "Sign out?" form
    _, page, _ = browser.follow("/login")
    browser.login(page, "bob", "wrong")  # a failed login: two counters
    assert service.count(SessionRow) == 1 and service.count(RateLimitRow) == 2
    service.clock.advance(1)  # the ended session expired at the second it ended
    counts = service.context.purge()
    assert counts["sessions"] == 1 and counts["rate_limits"] == 0
    service.clock.advance(86400 + 1)
    assert service.context.purge()["rate_limits"] == 2
    with service.context.db.transaction() as session:
        assert session.scalars(select(RateLimitRow.key)).all() == ["lease:purge"]
