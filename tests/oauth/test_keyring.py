"""The key ring reads the keys from the database once per interval, by one thread, and parses each key once.

The statements are counted with SQLAlchemy's own cursor events on the real database (SQLite, and
MariaDB when configured); a short sleep in the same event stands for a slow database, so that the
threads of a busy server all find the keys due while the first one is still reading them.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import event

from gridauth.clock import Clock
from gridauth.db import schema
from gridauth.db.engine import Database
from gridauth.db.keys import KeyStore
from gridauth.oauth.keys import KeyRing

THREADS = 8


@pytest.fixture
def ring(db_url: str) -> Iterator[KeyRing]:
    """A key ring with one RS256 key over a fresh database."""
    db = Database(db_url, workers=THREADS)
    schema.upgrade(db)
    keyring = KeyRing(KeyStore(db), Clock(), refresh_interval=10)
    keyring.ensure("RS256", retire_after=1260)
    yield keyring
    db.close()


def _count_key_reads(ring: KeyRing, delay: float = 0.0) -> list[str]:
    """Record every SELECT of the signing keys (each one slowed down by *delay*)."""
    reads: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT") and "signing_keys" in statement:
            reads.append(statement)
            time.sleep(delay)

    event.listen(ring.store.db.engine, "before_cursor_execute", before)
    return reads


def _all_at_once(work) -> list[object]:  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(THREADS)
    results: list[object] = []

    def run() -> None:
        barrier.wait()
        results.append(work())

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_a_due_reload_is_made_by_one_thread_while_the_others_keep_signing(ring):
    reads = _count_key_reads(ring, delay=0.3)
    tokens = _all_at_once(lambda: ring.sign({"sub": "x"}))
    assert len(tokens) == THREADS and reads == []  # within the interval: no database read at all
    ring.clock.advance(11)
    tokens = _all_at_once(lambda: ring.sign({"sub": "x"}))
    assert len(tokens) == THREADS and all(ring.verify(t) == {"sub": "x"} for t in tokens)
    assert len(reads) == 1  # one reload for the whole process, not one per thread with a request
    ring.clock.advance(5)
    _all_at_once(ring.jwks)
    assert len(reads) == 1


def test_a_reload_parses_only_keys_it_has_not_seen(ring):
    before = ring.current
    jwks = ring.jwks()
    ring.load()
    assert ring.current.key is before.key  # the same parsed key object: not imported again
    assert ring.jwks() == jwks
    added = ring.add("ES256", retire_after=1260)
    assert [k["kid"] for k in ring.jwks()["keys"]] == [added.kid, before.kid]
    assert next(k for k in ring._fresh() if k.kid == before.kid).key is before.key


def test_an_unknown_kid_reloads_at_most_once_per_interval_whatever_is_sent(ring):
    reads = _count_key_reads(ring)
    forged = ring.sign({"sub": "x"}).split(".")
    header = base64.urlsafe_b64encode(json.dumps({"alg": "RS256", "kid": "unknown", "typ": "at+jwt"}).encode())
    token = ".".join([header.decode().rstrip("="), *forged[1:]])
    ring.clock.advance(3)
    assert all(result is None for result in _all_at_once(lambda: ring.verify(token)))
    assert len(reads) == 1
