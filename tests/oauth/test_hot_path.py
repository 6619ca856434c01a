"""The lean execution path of the hottest statements (``Database.hot_read`` / ``hot_write``) keeps what
``Database.read`` / ``atomic_core`` give: error translation, a failed write leaves nothing, a dead connection
replaced; and its autocommit pool leaves no transaction open (no COMMIT or ROLLBACK needed).

On a real SQLite file and, with GRIDAUTH_TEST_MYSQL, a real MariaDB database; nothing is mocked.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import bindparam, create_engine, event, func, select, text, update
from sqlalchemy.exc import DBAPIError

from gridauth.db.engine import Database
from gridauth.db.models import GrantRow
from gridauth.db.schema import upgrade
from gridauth.db.tokens import Grant, NewGrant, Renewal, TokenStore, _renew
from gridauth.errors import DatabaseUnavailable, SchemaMismatch
from gridauth.hashing import token_digest
from gridauth.oauth.models import GridUser

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


def test_a_hot_write_is_committed_by_itself_and_a_failed_one_leaves_nothing(db: Database) -> None:
    grant_id = _grant(db)
    tokens = TokenStore(db)
    params = {"grant_id": grant_id, "digest": token_digest("rt"), "now": NOW, "until": NOW + 600,
              "address": "192.0.2.1"}
    assert _renew(db, params) == 1
    # Seen at once by a connection of the other pool: no COMMIT was needed.
    with db.engine.connect() as conn:
        assert conn.scalar(select(GrantRow.generation).where(GrantRow.id == grant_id)) == 1
    # A statement that fails (a NOT NULL column set to NULL) changes nothing, rises as the bug it is (not
    # an outage), and the pool serves on.
    with pytest.raises(DBAPIError):
        db.hot_write(update(GrantRow).where(GrantRow.id == bindparam("grant_id"))
                     .values(generation=bindparam("generation")), {"grant_id": grant_id, "generation": None})
    assert not db.gate.held
    grant = tokens.grant(grant_id)
    assert grant is not None and grant.generation == 1
    assert _renew(db, params) == 2


@pytest.mark.parametrize("value", [None, "not a number"], ids=["null", "wrong type"])
def test_refused_data_is_a_bug_not_an_outage(db: Database, value: object) -> None:
    """MariaDB's "cannot be null" (1048) and "incorrect integer value" (1366) come from mysqlclient as
    OperationalError (1366 always, 1048 before 2.2): read as an outage they closed the gate and every
    request after the bug got 503. They rise unchanged, on both pools, and the gate stays open."""
    grant_id = _grant(db)
    if value is not None and db.engine.dialect.name == "sqlite":
        pytest.skip("SQLite stores a text in an integer column")
    statement = update(GrantRow).where(GrantRow.id == bindparam("grant_id")).values(generation=bindparam("value"))
    params = {"grant_id": grant_id, "value": value}
    with pytest.raises(DBAPIError):
        db.hot_write(statement, params)
    with pytest.raises(DBAPIError):
        db.atomic_core(lambda connection: connection.execute(statement, params))
    assert not db.gate.held
    assert TokenStore(db).grant(grant_id) is not None


def test_the_hot_pool_autocommits_and_a_read_leaves_no_transaction_open(db: Database) -> None:
    grant_id = _grant(db)
    tokens = TokenStore(db)
    assert tokens.grant(grant_id) is not None
    raw = db.hot_engine.raw_connection()
    try:
        if db.engine.dialect.name == "sqlite":
            assert raw.dbapi_connection.isolation_level is None  # type: ignore[union-attr]
            assert not raw.dbapi_connection.in_transaction  # type: ignore[union-attr]
        else:
            cursor = raw.cursor()
            cursor.execute("SELECT @@autocommit, @@tx_isolation")
            assert cursor.fetchone() == (1, "READ-COMMITTED")
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
        renewed = tokens.refresh(Renewal(tokens.grant(grant_id), "rt", NOW, NOW + 600))  # type: ignore[arg-type]
    except DatabaseUnavailable:  # the dead connection's request fails; the pool opens a new one
        renewed = tokens.refresh(Renewal(tokens.grant(grant_id), "rt", NOW, NOW + 600))  # type: ignore[arg-type]
    assert renewed is not None and renewed.generation == 1
    assert db.hot_read(lambda connection: connection.first(CONNECTION_ID, {}))[0] != victim  # type: ignore[index]


def test_an_access_tokens_state_is_one_statement(db: Database) -> None:
    """Introspection and userinfo ask the deny list and read the grant in one round trip, denied or not."""
    grant_id = _grant(db)
    tokens = TokenStore(db)
    statements: list[str] = []
    event.listen(db.engine, "before_cursor_execute",
                 lambda _conn, _cursor, sql, *_rest: statements.append(sql))
    state = tokens.token_state("jti-1", grant_id, legacy=False)
    assert (state.denied, state.grant_id) == (False, grant_id) and state.grant is not None
    assert state.grant.id == grant_id and state.grant.generation == 0
    assert len(statements) == 1
    missing = tokens.token_state("jti-2", "no-such-grant", legacy=False)
    assert (missing.denied, missing.grant_id, missing.grant) == (False, "no-such-grant", None)
    tokens.revoke_access_token("jti-1", NOW + 600)
    statements.clear()
    assert tokens.token_state("jti-1", grant_id, legacy=False).denied
    assert len(statements) == 1


def test_a_renewed_grant_and_its_user_keep_every_field_but_the_generation() -> None:
    """``Grant.at_generation`` and ``GridUser.at_generation`` name each field (cheaper than ``dataclasses.replace``
    on every refresh): a field added to either and forgotten there would be lost by every refresh."""
    grant = Grant(**{f.name: f"{f.name}-value" for f in dataclasses.fields(Grant)})
    assert grant.at_generation(7) == dataclasses.replace(grant, generation=7)
    user = GridUser(**{f.name: f"{f.name}-value" for f in dataclasses.fields(GridUser)})
    assert user.at_generation(7) == dataclasses.replace(user, generation=7)


def test_a_hot_statement_waiting_too_long_for_sqlites_one_hot_connection_is_an_outage(tmp_path) -> None:
    """On SQLite the hot statements of a process take one connection in turn; a statement that waited for it
    longer than the query timeout is a 503 outage (``DatabaseUnavailable``), never a pool error (a 500)."""
    db = Database(f"sqlite:///{tmp_path / 'one.sqlite'}", query_timeout=1)
    upgrade(db)
    held, release = threading.Event(), threading.Event()

    def hold(connection: object) -> None:
        held.set()
        release.wait(10)

    holder = threading.Thread(target=db.hot_read, args=(hold,))
    holder.start()
    try:
        assert held.wait(10)
        with pytest.raises(DatabaseUnavailable):
            db.hot_read(lambda connection: connection.first(select(func.count()).select_from(GrantRow), {}))
    finally:
        release.set()
        holder.join()
    db.gate.answered(True)  # as a successful /health ping does: the gate held after that slow failure
    assert db.hot_read(lambda connection: connection.first(select(func.count()).select_from(GrantRow), {}))[0] == 0
    db.close()
