"""The lean execution path of the hottest statements (``Database.hot_read`` / ``hot_atomic``) keeps what
``Database.read`` / ``atomic_core`` give: error translation, rollback on error, a dead connection replaced.

On a real SQLite file and, with GRIDAUTH_TEST_MYSQL, a real MariaDB database; nothing is mocked.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, func, select, text

from gridauth.db.engine import Database
from gridauth.db.schema import upgrade
from gridauth.db.tokens import NewGrant, TokenStore, _renew
from gridauth.errors import DatabaseUnavailable, SchemaMismatch

NOW = 1_800_000_000
CONNECTION_ID = select(func.connection_id())


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.close()


def _grant(db: Database) -> str:
    upgrade(db)
    row = TokenStore(db).create_grant(NewGrant(client_id="c", username="alice", group="dteam", vo="dteam",
                                               scope="openid", auth_time=NOW, issued_at=NOW,
                                               expires_at=NOW + 3600), "rt")
    return row.id


def test_a_missing_table_is_a_schema_mismatch_and_the_gate_stays_open(db: Database) -> None:
    tokens = TokenStore(db)  # no schema: the tables are missing
    with pytest.raises(SchemaMismatch):
        tokens.token_state("jti", "grant", legacy=False)
    with pytest.raises(SchemaMismatch):
        tokens.grant_by_refresh_token("rt")
    assert not db.gate.held
    upgrade(db)  # the same pool serves again
    assert tokens.grant_by_refresh_token("rt") is None


def test_an_error_in_a_hot_transaction_rolls_its_write_back(db: Database) -> None:
    grant_id = _grant(db)
    params = {"grant_id": grant_id, "now": NOW, "until": NOW + 600, "address": "192.0.2.1"}

    def renew_then_fail(connection):  # type: ignore[no-untyped-def]
        assert _renew(connection, params) == 1
        raise RuntimeError("a bug after the write")
    with pytest.raises(RuntimeError):
        db.hot_atomic(renew_then_fail)
    grant = TokenStore(db).grant(grant_id)
    assert grant is not None and grant.generation == 0
    assert db.hot_atomic(lambda connection: _renew(connection, params)) == 1  # the connection is usable


def test_a_read_leaves_no_transaction_open(db: Database) -> None:
    grant_id = _grant(db)
    tokens = TokenStore(db)
    assert tokens.grant(grant_id) is not None
    raw = db.engine.raw_connection()
    try:
        if db.engine.dialect.name == "sqlite":
            assert not raw.dbapi_connection.in_transaction  # type: ignore[union-attr]
        else:
            cursor = raw.cursor()
            cursor.execute("SELECT COUNT(*) FROM information_schema.innodb_trx "
                           "WHERE trx_mysql_thread_id = CONNECTION_ID()")
            assert cursor.fetchone()[0] == 0
            cursor.close()
    finally:
        raw.close()


def test_a_killed_connection_is_replaced(db: Database) -> None:
    if db.engine.dialect.name != "mysql":
        pytest.skip("KILL is MariaDB's")
    grant_id = _grant(db)
    tokens = TokenStore(db)
    victim = db.hot_read(lambda connection: connection.first(CONNECTION_ID, {}))[0]  # type: ignore[index]
    killer = create_engine(db.url)
    with killer.connect() as conn:
        conn.execute(text(f"KILL {int(victim):d}"))
    killer.dispose()
    try:
        renewed = tokens.refresh(tokens.grant(grant_id), NOW, NOW + 600)  # type: ignore[arg-type]
    except DatabaseUnavailable:  # the dead connection's request fails; the pool opens a new one
        renewed = tokens.refresh(tokens.grant(grant_id), NOW, NOW + 600)  # type: ignore[arg-type]
    assert renewed is not None and renewed.generation == 1
    assert db.hot_read(lambda connection: connection.first(CONNECTION_ID, {}))[0] != victim  # type: ignore[index]
