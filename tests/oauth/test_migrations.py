"""Schema revisions: every earlier gridauth database upgrades without losing a row, then serves.

Each pre-Alembic schema (frozen in ``tests/data/legacy_schemas.py``) is built on SQLite and, with
``GRIDAUTH_TEST_MYSQL``, on MariaDB; a row goes in every table; the real ``gridauth db upgrade``
runs; every row is read back; then the service runs on the database and answers a client-credentials
request (signed with the old database's key) and a refresh of the old database's grant.

Also here: ``serve`` refusing a database at another revision (one line, exit 8), a table altered
under a running service (500 ``server_error`` and one log line, never a 503 "unavailable"), the
commands that say which database they wrote to, and ``admin passwd`` refusing an uninitialised one.
"""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import Engine, MetaData, create_engine, inspect, select, text

from data.legacy_schemas import FIRST, IDP, INTERACTIVE, SCHEMA_VERSION, legacy_schema
from gridauth.db.models import Base
from gridauth.db.schema import SCRIPTS, head
from gridauth.hashing import PASSWORD_ITERATIONS, hash_secret, token_digest

from .conftest import PASSWORDS, PORTAL, SERVICE, Service, issue_grant
from .proofs import token_request_proof

SCHEMA_EXIT = 8
LEGACY_REFRESH = "legacy-refresh-token-0123456789abcdefghij"
GRANT_ID = "0123456789abcdef0123456789abcdef"
SCOPE = "openid profile vo:dteam group:dteam_user"
# What revision 0002 added (checked on their own): the tables, and the columns of older tables.
MADE_BY_0002 = {"revoked_tokens", "legacy_tokens"}
ADDED_BY_0002 = {"grants": ("generation", "last_used_at", "purge_at"), "authorization_codes": ("replayed_at",)}


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A plain SQLAlchemy engine on the test's database, to build old schemas and read rows back."""
    eng = create_engine(db_url)
    yield eng
    eng.dispose()


def legacy_rows(now: int, kid: str, private_jwk: str) -> dict[str, list[dict[str, Any]]]:
    """One row per table of the newest legacy schema (older schemas take the columns they have)."""
    return {
        "gridauth_meta": [{"name": "schema_version", "value": "2"}],
        "grants": [{"id": GRANT_ID, "refresh_token_hash": token_digest(LEGACY_REFRESH),
                    "client_id": PORTAL[0], "username": "alice", "group_name": "dteam_user", "vo": "dteam",
                    "scope": SCOPE, "auth_time": now - 60, "issued_at": now - 60, "expires_at": now + 43200,
                    "revoked_at": None, "idp": "local"}],
        "access_tokens": [{"jti": "legacy-jti", "grant_id": GRANT_ID, "client_id": PORTAL[0], "username": "alice",
                           "scope": SCOPE, "issued_at": now - 60, "expires_at": now + 1140, "revoked_at": None}],
        "signing_keys": [{"kid": kid, "alg": "RS256", "private_jwk": private_jwk, "created_at": now - 3600,
                          "publish_until": None, "seq": 1}],
        "local_accounts": [{"username": "alice", "updated_at": now,
                            "password_hash": hash_secret(PASSWORDS["alice"], PASSWORD_ITERATIONS)}],
        "authorization_codes": [{"code_hash": "c" * 64, "client_id": PORTAL[0], "redirect_uri": "http://x/cb",
                                 "scope": SCOPE, "username": "alice", "group_name": "dteam_user", "vo": "dteam",
                                 "properties": "[]", "nonce": "n", "code_challenge": "x" * 43,
                                 "code_challenge_method": "S256", "auth_time": now, "expires_at": now + 300,
                                 "used_at": None, "grant_id": None, "idp": "local"}],
        "device_flows": [{"device_code_hash": "d" * 64, "user_code": "ABCD-EFGH", "client_id": "gridauth-cli",
                          "scope": SCOPE, "status": "pending", "interval": 5, "last_polled_at": None,
                          "expires_at": now + 600, "username": None, "group_name": None, "vo": None,
                          "properties": None, "auth_time": None, "idp": None}],
        "sessions": [{"id_hash": "s" * 64, "username": "alice", "idp": "local", "groups": None, "auth_time": now,
                      "expires_at": now + 3600, "revoked_at": None}],
        "login_states": [{"state": "st" * 20, "data": "{}", "next_url": "/", "expires_at": now + 600}],
        "rate_limits": [{"key": "login:alice", "window_start": now, "count": 3}],
    }


# The databases to upgrade: made by one commit, or made by one and opened later by another, whose
# create_all then added its missing tables (never columns) and left the recorded version alone.
HISTORIES = [(FIRST,), (INTERACTIVE,), (IDP,), (FIRST, IDP)]


def build_legacy(engine: Engine, history: tuple[str, ...]) -> tuple[dict[str, list[dict[str, Any]]], str]:
    """Make the database the *history* of commits made, and fill every table; the rows and the key id."""
    key = RSAKey.generate_key(2048, private=True)
    kid = key.thumbprint()[:16]
    rows = legacy_rows(int(time.time()), kid, json.dumps(key.as_dict(private=True)))
    rows["gridauth_meta"][0]["value"] = SCHEMA_VERSION[history[0]]
    for commit in history:
        legacy_schema(commit).create_all(engine)  # checkfirst, as create_schema did
    made = MetaData()
    made.reflect(engine)
    stored: dict[str, list[dict[str, Any]]] = {}
    with engine.begin() as conn:
        for table in made.sorted_tables:
            stored[table.name] = [{c: v for c, v in row.items() if c in table.c} for row in rows[table.name]]
            conn.execute(table.insert(), stored[table.name])
    return stored, kid


def read_back(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table of today's models."""
    with engine.connect() as conn:
        return {name: [dict(row._mapping) for row in conn.execute(select(table))]
                for name, table in Base.metadata.tables.items()}


def jwt_kid(token: str) -> str:
    """The ``kid`` of a JWT's header."""
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


@pytest.mark.parametrize("history", HISTORIES, ids="+".join)
def test_legacy_database_upgrades_keeps_every_row_and_serves(history: tuple[str, ...], engine: Engine, db_url: str,
                                                              config_file: Path, gridauth: Any) -> None:
    stored, kid = build_legacy(engine, history)
    has_accounts = "local_accounts" in stored
    shown = engine.url.render_as_string(hide_password=True)

    # serve refuses it: the schema is the operator's to change, once, not every starting host's
    refused = gridauth("serve", "--config", config_file, "--db", db_url, "--port", "0")
    assert refused.returncode == SCHEMA_EXIT, refused.stderr
    assert f"run `gridauth db upgrade --db {shown}`" in refused.stderr and head() in refused.stderr

    upgraded = gridauth("db", "upgrade", "--db", db_url, ok=True)
    assert upgraded.stdout.strip() == (f"upgraded {shown} from schema revision none (made before schema "
                                       f"revisions) to {head()}")
    now = read_back(engine)
    for table in Base.metadata.tables.values():
        if table.name in MADE_BY_0002:
            continue
        columns = [column.name for column in table.columns if column.name not in ADDED_BY_0002.get(table.name, ())]
        expected = [{name: row.get(name) for name in columns} for row in stored.get(table.name, [])]
        assert [{name: row[name] for name in columns} for row in now[table.name]] == expected, table.name
    # 0002: the live access token is kept with its grant, which stays until that token expires
    legacy = stored["access_tokens"][0]
    assert now["legacy_tokens"] == [{"jti": "legacy-jti", "grant_id": GRANT_ID, "expires_at": legacy["expires_at"]}]
    assert now["revoked_tokens"] == []
    (grant,) = now["grants"]
    assert (grant["generation"], grant["last_used_at"], grant["purge_at"]) == (0, None, grant["expires_at"])
    assert all(code["replayed_at"] is None for code in now["authorization_codes"])
    assert "access_tokens" not in inspect(engine).get_table_names()
    assert "gridauth_meta" not in inspect(engine).get_table_names()
    assert gridauth("db", "current", "--db", db_url, ok=True).stdout.strip() == (
        f"{shown}: revision {head()}, this gridauth's (up to date)")
    again = gridauth("db", "upgrade", "--db", db_url, ok=True)
    assert "nothing to do" in again.stdout

    service = Service(config_file, db_url)
    try:
        issued = service.post("/token", {"grant_type": "client_credentials"}, auth=SERVICE)
        assert issued.status == 200, issued.body
        assert jwt_kid(issued.body["access_token"]) == kid  # the old database's key signs
        assert service.context.accounts.check_password("alice", PASSWORDS["alice"]) is has_accounts
        refreshed = service.refresh(LEGACY_REFRESH)  # grants from before the idp column too (NULL: not recorded)
        assert refreshed.status == 200, refreshed.body
        assert service.introspect(refreshed.body["access_token"])["active"] is True
    finally:
        service.stop()


def test_revisions_create_exactly_the_models(engine: Engine, db_url: str, gridauth: Any) -> None:
    """The DDL lives in the revisions; models.py must describe what they made (a new column needs both)."""
    with engine.begin() as conn:
        conn.execute(text("SELECT 1"))  # the SQLite file exists: `db upgrade` does not create one
    result = gridauth("db", "upgrade", "--db", db_url, ok=True)
    assert "from schema revision none (empty database)" in result.stdout
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata) == []


def test_several_upgrades_at_once_all_succeed(engine: Engine, db_url: str, gridauth: Any) -> None:
    """Hosts upgrading one database at the same moment: one does the work, the others see it done."""
    legacy_schema(IDP).create_all(engine)
    results = gridauth.many([("db", "upgrade", "--db", db_url)] * 4, ok=True)
    assert all(r.stderr == "" for r in results), [r.stderr for r in results]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head()]
    assert "idp" in {c["name"] for c in inspect(engine).get_columns("grants")}


def test_serve_refuses_an_unknown_revision_in_one_line(engine: Engine, db_url: str, config_file: Path,
                                                       gridauth: Any, helpers: Any) -> None:
    gridauth("db", "init", "--config", config_file, "--db", db_url, ok=True)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00dcafe'"))
    shown = engine.url.render_as_string(hide_password=True)
    refused = gridauth("serve", "--config", config_file, "--db", db_url, "--port", "0")
    (line,) = helpers.clean_failure(refused, SCHEMA_EXIT, one_line=True)
    assert line == (f"gridauth: error: {shown}: revision f00dcafe, unknown to this gridauth (whose revision is "
                    f"{head()}); a newer gridauth upgraded it; run that newer gridauth version on it")
    current = gridauth("db", "current", "--db", db_url)
    assert current.returncode == SCHEMA_EXIT and "f00dcafe" in current.stdout
    helpers.clean_failure(gridauth("db", "upgrade", "--db", db_url), SCHEMA_EXIT, one_line=True)


def test_init_and_serve_on_an_empty_database(tmp_path: Path, cfg_copy: Path, gridauth: Any, start_server: Any,
                                             helpers: Any) -> None:
    """`db init` makes a database ready and says which; `serve` on an empty one initialises it (first run)."""
    path = tmp_path / "init.sqlite"
    url = f"sqlite:///{path}"
    first = gridauth("db", "init", "--config", cfg_copy, "--db", url, ok=True)
    assert first.stdout.startswith(f"initialised {url} at schema revision {head()}; signing key ")
    again = gridauth("db", "init", "--config", cfg_copy, "--db", url, ok=True)
    assert again.stdout.startswith(f"{url} is already initialised (schema revision {head()})")

    server = start_server(cfg_copy)  # its own, empty database
    assert "initialised the empty database" in server.log_text()
    served = f"sqlite:///{tmp_path / 'serve.sqlite'}"
    assert gridauth("db", "current", "--db", served, ok=True).stdout.startswith(f"{served}: revision {head()}")


def test_init_refuses_an_old_database(engine: Engine, db_url: str, config_file: Path, gridauth: Any,
                                      helpers: Any) -> None:
    legacy_schema(IDP).create_all(engine)
    (line,) = helpers.clean_failure(gridauth("db", "init", "--config", config_file, "--db", db_url),
                                    SCHEMA_EXIT, one_line=True)
    assert "`db init` only initialises an empty database" in line and "gridauth db upgrade --db" in line


def test_passwd_names_the_database_and_refuses_an_uninitialised_one(
        engine: Engine, db_url: str, config_file: Path, gridauth: Any, helpers: Any, tmp_path: Path) -> None:
    shown = engine.url.render_as_string(hide_password=True)
    missing = tmp_path / "typo" / "gridauth.sqlite"
    (line,) = helpers.clean_failure(gridauth("admin", "passwd", "alice", "--config", config_file,
                                             "--db", f"sqlite:///{missing}"), SCHEMA_EXIT, one_line=True)
    assert "no such database file" in line and "gridauth db init" in line
    assert not missing.parent.exists()  # no stray database left behind

    with engine.begin() as conn:
        conn.execute(text("SELECT 1"))  # an existing, empty database (SQLite file or MariaDB schema)
    (line,) = helpers.clean_failure(gridauth("admin", "passwd", "alice", "--config", config_file, "--db", db_url),
                                    SCHEMA_EXIT, one_line=True)
    assert line == (f"gridauth: error: {shown}: empty (no gridauth tables); this gridauth's revision is {head()}; "
                    f"run `gridauth db init --db {shown}`")
    assert inspect(engine).get_table_names() == []

    gridauth("db", "init", "--config", config_file, "--db", db_url, ok=True)
    result = _passwd(gridauth, config_file, db_url)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == f"password set for alice in {shown}; 0 SSO sessions ended"


def _passwd(gridauth: Any, config_file: Path, db_url: str) -> Any:
    """``admin passwd`` with the password on standard input (a new interpreter: the fork server's stdin is null)."""
    return subprocess.run(gridauth.argv("admin", "passwd", "alice", "--config", config_file, "--db", db_url),
                          input=PASSWORDS["alice"] + "\n", env=gridauth.env, cwd=gridauth.cwd, text=True,
                          capture_output=True, timeout=60)


def test_keys_rotate_and_purge_name_the_database(db_url: str, engine: Engine, config_file: Path,
                                                 gridauth: Any) -> None:
    shown = engine.url.render_as_string(hide_password=True)
    gridauth("db", "init", "--config", config_file, "--db", db_url, ok=True)
    rotated = gridauth("keys", "rotate", "--config", config_file, "--db", db_url, ok=True)
    assert f" in {shown}, published now" in rotated.stdout
    purged = gridauth("db", "purge", "--config", config_file, "--db", db_url, ok=True)
    assert purged.stdout.startswith("purged ") and purged.stdout.strip().endswith(f" from {shown}")


@pytest.mark.parametrize("alteration", ["table", "column"])
def test_a_schema_changed_under_the_service_is_a_server_error_not_an_outage(
        alteration: str, service: Service, engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    refresh_token = issue_grant(service)
    assert service.refresh(refresh_token).status == 200
    with engine.begin() as conn:
        if alteration == "table":
            conn.execute(text("ALTER TABLE grants RENAME TO grants_moved"))
        else:
            conn.execute(text("ALTER TABLE grants DROP COLUMN last_used_at"))
    with caplog.at_level(logging.ERROR, logger="gridauth.web"):
        reply = service.refresh(refresh_token)
    assert reply.status == 500, reply.body
    assert reply.body == {"error": "server_error",
                          "error_description": "the service's database is not at its schema revision"}
    assert "Retry-After" not in reply.headers
    (record,) = [r for r in caplog.records if r.name == "gridauth.web"]
    assert record.exc_info is None and "\n" not in record.getMessage()
    assert "is not this gridauth's revision" in record.getMessage()
    assert "run `gridauth db upgrade --db" in record.getMessage()


def at_revision(engine: Engine, revision: str) -> None:
    """Bring the database of *engine* to *revision* (an older one than the head), as that gridauth did."""
    config = AlembicConfig()
    config.set_main_option("script_location", SCRIPTS)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def old_access_token(key: RSAKey, kid: str, jti: str, expires_at: int, user: bool = True) -> str:
    """An access token as gridauth signed them before revision 0002 (a random jti)."""
    claims: dict[str, Any] = {"iss": "http://localhost:8080", "sub": "alice" if user else SERVICE[0],
                              "aud": "http://localhost:8080", "exp": expires_at, "iat": expires_at - 1200,
                              "nbf": expires_at - 1200, "jti": jti, "client_id": PORTAL[0] if user else SERVICE[0],
                              "scope": SCOPE if user else ""}
    if user:
        claims.update({"preferred_username": "alice", "vo": "dteam", "dirac_group": "dteam_user",
                       "dirac_properties": ["NormalUser"]})
    return jwt.encode({"alg": "RS256", "kid": kid, "typ": "at+jwt"}, claims, key, algorithms=["RS256"])


def test_access_tokens_keep_their_state_across_the_upgrade_to_0002(engine: Engine, db_url: str, config_file: Path,
                                                                   gridauth: Any) -> None:
    """Live, revoked and expired access tokens of a database at 0001: each is what it was after 0002."""
    at_revision(engine, "0001")
    now = int(time.time())
    key = RSAKey.generate_key(2048, private=True)
    kid = key.thumbprint()[:16]
    revoked_grant, gone_grant = "e" * 32, "f" * 32
    grant = {"client_id": PORTAL[0], "username": "alice", "group_name": "dteam_user", "vo": "dteam",
             "scope": SCOPE, "auth_time": now - 60, "issued_at": now - 60, "expires_at": now + 43200, "idp": "local"}
    tokens = {  # name: (jti, grant, revoked, expires_at, a user's)
        "live": ("1" * 32, GRANT_ID, False, now + 1000, True),
        "revoked": ("2" * 32, GRANT_ID, True, now + 1000, True),
        "expired": ("3" * 32, GRANT_ID, False, now - 10, True),
        "client": ("4" * 32, None, False, now + 1000, False),
        "revoked_client": ("5" * 32, None, True, now + 1000, False),
        "grant_gone": ("6" * 32, gone_grant, False, now + 1000, True),
        "grant_revoked": ("7" * 32, revoked_grant, True, now + 1000, True),
    }
    md = MetaData()
    md.reflect(engine)
    with engine.begin() as conn:
        conn.execute(md.tables["signing_keys"].insert(), [{
            "kid": kid, "alg": "RS256", "private_jwk": json.dumps(key.as_dict(private=True)),
            "created_at": now - 3600, "publish_until": None, "seq": 1}])
        conn.execute(md.tables["grants"].insert(), [
            {**grant, "id": GRANT_ID, "refresh_token_hash": token_digest(LEGACY_REFRESH), "revoked_at": None},
            {**grant, "id": revoked_grant, "refresh_token_hash": token_digest("revoked-" + LEGACY_REFRESH),
             "revoked_at": now - 30}])
        conn.execute(md.tables["access_tokens"].insert(), [
            {"jti": jti, "grant_id": grant_id, "client_id": PORTAL[0] if user else SERVICE[0],
             "username": "alice" if user else None, "scope": SCOPE, "issued_at": exp - 1200, "expires_at": exp,
             "revoked_at": now - 5 if revoked else None}
            for jti, grant_id, revoked, exp, user in tokens.values()])
    signed = {name: old_access_token(key, kid, jti, exp, user) for name, (jti, _, _, exp, user) in tokens.items()}

    gridauth("db", "upgrade", "--db", db_url, ok=True)
    assert "access_tokens" not in inspect(engine).get_table_names()
    service = Service(config_file, db_url)
    try:
        def active() -> set[str]:
            return {name for name, token in signed.items() if service.introspect(token)["active"]}
        assert active() == {"live", "client", "grant_gone"}
        userinfo = service.get("/userinfo", headers={"Authorization": f"Bearer {signed['live']}"})
        assert userinfo.status == 200 and userinfo.body["sub"] == "alice"
        refreshed = service.refresh(LEGACY_REFRESH)  # a refresh revokes the old credentials, old tokens too
        assert refreshed.status == 200, refreshed.body
        assert active() == {"client", "grant_gone"}
        assert service.introspect(refreshed.body["access_token"])["active"] is True
        assert service.post("/revoke", {"token": signed["client"]}, auth=SERVICE).status == 200
        assert active() == {"grant_gone"}
        assert service.refresh("revoked-" + LEGACY_REFRESH).body["error"] == "invalid_grant"
    finally:
        service.stop()


def cli_grant(now: int, **columns: Any) -> dict[str, Any]:
    """A live grant of gridauth-cli for alice as a row of revision 0002 (and *columns* of later ones)."""
    return {"id": GRANT_ID, "refresh_token_hash": token_digest(LEGACY_REFRESH), "client_id": "gridauth-cli",
            "username": "alice", "group_name": "dteam_user", "vo": "dteam", "scope": SCOPE, "auth_time": now - 60,
            "issued_at": now - 60, "expires_at": now + 43200, "revoked_at": None, "idp": "local", "generation": 0,
            "last_used_at": None, "purge_at": now + 43200, **columns}


def test_grants_and_codes_from_before_dpop_keep_their_rows_and_stay_unbound(engine: Engine, db_url: str,
                                                                          config_file: Path, gridauth: Any) -> None:
    """A database at 0002 with a grant and a code: the DPoP revision keeps both, unbound; the grant refreshes."""
    at_revision(engine, "0002")
    now = int(time.time())
    md = MetaData()
    md.reflect(engine)
    grant = cli_grant(now, generation=3, last_used_at=now - 5)
    code = {"code_hash": "c" * 64, "client_id": "gridauth-cli", "redirect_uri": "http://127.0.0.1/callback",
            "scope": SCOPE, "username": "alice", "group_name": "dteam_user", "vo": "dteam", "properties": "",
            "nonce": None, "code_challenge": "x" * 43, "code_challenge_method": "S256", "auth_time": now,
            "expires_at": now + 300, "used_at": None, "grant_id": None, "idp": "local", "replayed_at": None}
    with engine.begin() as conn:
        conn.execute(md.tables["grants"].insert(), [grant])
        conn.execute(md.tables["authorization_codes"].insert(), [code])

    gridauth("db", "upgrade", "--db", db_url, ok=True)
    rows = read_back(engine)
    kept = [*grant, "dpop_jkt"]  # the columns of later revisions are theirs to check
    assert [{name: row[name] for name in kept} for row in rows["grants"]] == [{**grant, "dpop_jkt": None}]
    assert rows["authorization_codes"] == [{**code, "dpop_jkt": None}]
    assert rows["dpop_proofs"] == []
    service = Service(config_file, db_url)
    try:
        # unbound, but the client requires DPoP: a proof by any key
        refreshed = service.refresh(LEGACY_REFRESH, client=("gridauth-cli", None), headers=token_request_proof(service))
        assert refreshed.status == 200, refreshed.body
        assert service.introspect(refreshed.body["access_token"])["active"] is True
    finally:
        service.stop()


def portal_grant_at_0004(engine: Engine) -> tuple[int, MetaData, dict[str, Any]]:
    """A database at revision 0004 (its tables reflected) and the row of a live portal grant to insert."""
    at_revision(engine, "0004")
    now = int(time.time())
    md = MetaData()
    md.reflect(engine)
    grant = {"id": GRANT_ID, "refresh_token_hash": token_digest(LEGACY_REFRESH), "client_id": PORTAL[0],
             "username": "alice", "group_name": "dteam_user", "vo": "dteam", "scope": SCOPE, "auth_time": now - 60,
             "issued_at": now - 60, "expires_at": now + 43200, "revoked_at": None, "idp": "local", "generation": 2,
             "last_used_at": now - 5, "purge_at": now + 43200, "dpop_jkt": None}
    return now, md, grant


def test_grants_and_sso_sessions_from_before_0005_keep_their_rows_and_get_addresses_when_used(
        engine: Engine, db_url: str, config_file: Path, gridauth: Any) -> None:
    """A database at 0004 with a grant and an SSO session: 0005 keeps both (no address yet); a refresh records one."""
    now, md, grant = portal_grant_at_0004(engine)
    sso = {"id_hash": "s" * 64, "username": "alice", "idp": "local", "groups": None, "auth_time": now - 60,
           "expires_at": now + 3600, "revoked_at": None}
    with engine.begin() as conn:
        conn.execute(md.tables["grants"].insert(), [grant])
        conn.execute(md.tables["sessions"].insert(), [sso])

    gridauth("db", "upgrade", "--db", db_url, ok=True)
    rows = read_back(engine)
    assert [{name: row[name] for name in [*grant, "last_address"]} for row in rows["grants"]] == [
        {**grant, "last_address": None}]
    assert rows["sessions"] == [{**sso, "address": None}]
    listed = {row["id"]: row for row in gridauth.json("admin", "sessions", "list", "--db", db_url)}
    assert listed[GRANT_ID]["last_used_at"] == now - 5 and listed[GRANT_ID]["address"] is None
    assert listed["s" * 16]["kind"] == "sso"
    service = Service(config_file, db_url)
    try:
        refreshed = service.refresh(LEGACY_REFRESH)
        assert refreshed.status == 200, refreshed.body
    finally:
        service.stop()
    (after,) = read_back(engine)["grants"]
    assert (after["generation"], after["last_address"]) == (3, "127.0.0.1") and after["last_used_at"] >= now


def test_grants_from_before_token_exchange_keep_their_rows_and_are_no_ones_children(
        engine: Engine, db_url: str, config_file: Path, gridauth: Any) -> None:
    """A database at 0004 with a grant: revision 0007 keeps it (no parent, no actor); it refreshes, and revoking
    it ends a grant exchanged from it after the upgrade."""
    now, md, grant = portal_grant_at_0004(engine)
    with engine.begin() as conn:
        conn.execute(md.tables["grants"].insert(), [grant])

    gridauth("db", "upgrade", "--db", db_url, ok=True)
    kept = [*grant, "parent_id", "actor"]  # the columns of other revisions are theirs to check
    assert [{name: row[name] for name in kept} for row in read_back(engine)["grants"]] == [
        {**grant, "parent_id": None, "actor": None}]
    assert "ix_grants_parent_id" in {index["name"] for index in inspect(engine).get_indexes("grants")}
    service = Service(config_file, db_url)
    try:
        service.edit(lambda cfg: cfg.setOption(
            "DIRAC/Security/Authorization/Clients/example-service/grant_types",
            "client_credentials, refresh_token, urn:ietf:params:oauth:grant-type:token-exchange"))
        service.edit(lambda cfg: cfg.createNewSection(
            "DIRAC/Security/Authorization/Clients/example-service/TokenExchange", contents=None))
        service.edit(lambda cfg: cfg.setOption(
            "DIRAC/Security/Authorization/Clients/example-service/TokenExchange/RefreshTokens", "yes"))
        refreshed = service.refresh(LEGACY_REFRESH)
        assert refreshed.status == 200, refreshed.body
        exchanged = service.post("/token", {
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": refreshed.body["access_token"],
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "requested_token_type": "urn:ietf:params:oauth:token-type:refresh_token"}, auth=SERVICE)
        assert exchanged.status == 200, exchanged.body
        assert service.post("/revoke", {"token": LEGACY_REFRESH}, auth=PORTAL).status == 200
        assert service.introspect(exchanged.body["refresh_token"]) == {"active": False}
    finally:
        service.stop()


def test_a_database_at_0004_gains_the_configuration_versions_and_keeps_its_rows(
        engine: Engine, db_url: str, config_file: Path, gridauth: Any) -> None:
    """Revision 0006 adds ``config_versions`` (empty: the file mode stays the default); rows are kept."""
    at_revision(engine, "0004")
    md = MetaData()
    md.reflect(engine)
    counter = {"key": "login-user:alice", "window_start": int(time.time()), "count": 2}
    with engine.begin() as conn:
        conn.execute(md.tables["rate_limits"].insert(), [counter])
    assert "config_versions" not in inspect(engine).get_table_names()

    gridauth("db", "upgrade", "--db", db_url, ok=True)
    rows = read_back(engine)
    assert rows["rate_limits"] == [counter] and rows["config_versions"] == []
    imported = gridauth("config", "import", config_file, "--config-store", "database", "--db", db_url, ok=True)
    assert imported.stderr.strip() == "written as version 1"
    (version,) = read_back(engine)["config_versions"]
    assert version["text"] == config_file.read_text(encoding="utf-8") and version["author"] == "tester"


def test_registered_clients_come_with_0008_and_go_with_its_downgrade(engine: Engine, db_url: str, config_file: Path,
                                                                     gridauth: Any) -> None:
    """A database at 0004 with a grant: 0008 adds the empty ``registered_clients`` table, the grant stays and
    refreshes; a registered client's row goes away with the downgrade to 0004, the grant does not."""
    at_revision(engine, "0004")
    now = int(time.time())
    md = MetaData()
    md.reflect(engine)
    grant = cli_grant(now, dpop_jkt=None)
    with engine.begin() as conn:
        conn.execute(md.tables["grants"].insert(), [grant])
    gridauth("db", "upgrade", "--db", db_url, ok=True)
    rows = read_back(engine)
    assert [{name: row[name] for name in grant} for row in rows["grants"]] == [grant]
    assert rows["registered_clients"] == []
    client = {"client_id": "reg-1", "client_secret_hash": None, "registration_token_hash": "t" * 64, "owner": "alice",
              "metadata_json": "{}", "groups": None, "issued_at": now, "last_used_at": now, "expires_at": now + 60}
    with engine.begin() as conn:
        conn.execute(Base.metadata.tables["registered_clients"].insert(), [client])
    assert read_back(engine)["registered_clients"] == [client]
    service = Service(config_file, db_url)
    try:
        assert service.refresh(LEGACY_REFRESH, client=("gridauth-cli", None),
                               headers=token_request_proof(service)).status == 200
    finally:
        service.stop()

    config = AlembicConfig()
    config.set_main_option("script_location", SCRIPTS)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0004")
    assert "registered_clients" not in inspect(engine).get_table_names()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT id FROM grants")).scalars().all() == [GRANT_ID]
