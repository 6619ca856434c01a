"""``Database.atomic``: a transaction that loses a race (a deadlock, or a Galera certification failure,
which MariaDB reports the same way) is run again from the start instead of failing the request."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from gridauth.db.engine import Database
from gridauth.db.schema import upgrade


def test_a_deadlock_is_run_again_and_both_writers_succeed(db_url):
    if not db_url.startswith("mysql"):
        pytest.skip("SQLite serialises writers: no deadlock to lose")
    db = Database(db_url, workers=2)
    upgrade(db)
    with db.transaction() as session:
        for name in ("a", "b"):
            session.execute(text("INSERT INTO rate_limits (`key`, window_start, count) VALUES (:k, 0, 0)"), {"k": name})
    both_locked_one = threading.Barrier(2)
    runs: list[str] = []

    def writer(first: str, second: str) -> None:
        def work(session) -> None:  # type: ignore[no-untyped-def]
            runs.append(first)
            session.execute(text("UPDATE rate_limits SET count = count + 1 WHERE `key` = :k"), {"k": first})
            if len(runs) <= 2:  # the first run of each writer: make sure both hold a lock, then cross
                both_locked_one.wait(timeout=10)
            session.execute(text("UPDATE rate_limits SET count = count + 1 WHERE `key` = :k"), {"k": second})
        db.atomic(work)

    threads = [threading.Thread(target=writer, args=pair) for pair in (("a", "b"), ("b", "a"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with db.transaction() as session:
        counts = dict(session.execute(text("SELECT `key`, count FROM rate_limits")).all())
    db.close()
    assert counts == {"a": 2, "b": 2}, "each writer's two increments landed exactly once"
    assert len(runs) == 3, "the deadlock victim ran once more, the winner once"
