"""Identity is exact, on SQLite and MariaDB: names that differ only in case are two people, a new
password ends the user's sessions, and a client's failed authentication does not say whether it exists.

Revision 0003 gives every text column of MySQL/MariaDB a binary collation; it is tested by upgrading
a database made at 0002 with rows in it.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, create_engine, select, text

from gridauth.admin import edits
from gridauth.db.models import Base
from gridauth.db.schema import head
from gridauth.hashing import hash_secret

from .conftest import PASSWORDS, PORTAL, SERVICE, Browser, Service
from .test_migrations import at_revision, read_back

NEW_PASSWORD = "a-new-password-for-ALICE"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A plain SQLAlchemy engine on the test's database."""
    eng = create_engine(db_url)
    yield eng
    eng.dispose()


def text_collations(engine: Engine) -> dict[str, str]:
    """``table.column``: collation of every text column of gridauth's tables (MySQL/MariaDB)."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT table_name, column_name, collation_name FROM information_schema.columns "
                                 "WHERE table_schema = DATABASE() AND collation_name IS NOT NULL")).all()
    return {f"{t}.{c}": collation for t, c, collation in rows if t in Base.metadata.tables}


def passwd(gridauth: Any, config_file: Path, db_url: str, name: str, password: str) -> subprocess.CompletedProcess:
    """``gridauth admin passwd NAME`` with the password on standard input (a new interpreter)."""
    return subprocess.run(gridauth.argv("admin", "passwd", name, "--config", config_file, "--db", db_url),
                          input=password + "\n", env=gridauth.env, cwd=gridauth.cwd, text=True,
                          capture_output=True, timeout=60)


def test_upgrade_from_0002_keeps_the_rows_and_makes_identifiers_exact(engine: Engine, db_url: str,
                                                                      gridauth: Any) -> None:
    at_revision(engine, "0002")
    now = int(time.time())
    tables = MetaData()
    tables.reflect(engine)
    rows = {
        "local_accounts": [{"username": "alice", "password_hash": hash_secret("pw", 1000), "updated_at": now}],
        "grants": [{"id": "g" * 32, "refresh_token_hash": "a" * 64, "client_id": PORTAL[0], "username": "alice",
                    "group_name": "dteam_user", "vo": "dteam", "scope": "openid", "auth_time": now, "issued_at": now,
                    "expires_at": now + 600, "revoked_at": None, "idp": "local", "generation": 2,
                    "last_used_at": now, "purge_at": now + 600}],
        "sessions": [{"id_hash": "s" * 64, "username": "alice", "idp": "local", "groups": None, "auth_time": now,
                      "expires_at": now + 600, "revoked_at": None}],
        "revoked_tokens": [{"jti": "Jti-1", "expires_at": now + 600}],
        "rate_limits": [{"key": "login-user:alice", "window_start": now, "count": 3}],
    }
    with engine.begin() as conn:
        for name, values in rows.items():
            conn.execute(tables.tables[name].insert(), values)

    upgraded = gridauth("db", "upgrade", "--db", db_url, ok=True)
    assert upgraded.stdout.strip().endswith(f"from schema revision 0002 to {head()}")
    back = read_back(engine)
    for name, values in rows.items():  # every row kept (later revisions may add columns)
        assert [{k: row[k] for k in value} for row, value in zip(back[name], values, strict=True)] == values, name
    if engine.dialect.name == "mysql":
        assert set(text_collations(engine).values()) == {"utf8mb4_nopad_bin"}, text_collations(engine)
    # The case pair is two keys now, and each compares only with itself.
    with engine.begin() as conn:
        conn.execute(tables.tables["local_accounts"].insert(), [
            {"username": "ALICE", "password_hash": hash_secret("other", 1000), "updated_at": now}])
        conn.execute(tables.tables["revoked_tokens"].insert(), [{"jti": "jti-1", "expires_at": now + 600}])
        account = tables.tables["local_accounts"]
        assert conn.execute(select(account.c.username).where(account.c.username == "ALICE")).scalars().all() \
            == ["ALICE"]
        assert conn.execute(select(account.c.username).where(account.c.username == "alice ")).all() == []


def test_every_text_column_compares_exactly_after_init(engine: Engine, db_url: str, config_file: Path,
                                                       gridauth: Any) -> None:
    """A new database too (and a table a later revision adds must name the binary collation)."""
    gridauth("db", "init", "--config", config_file, "--db", db_url, ok=True)
    if engine.dialect.name == "mysql":
        collations = text_collations(engine)
        assert {name.split(".")[0] for name in collations} == set(Base.metadata.tables)
        assert set(collations.values()) == {"utf8mb4_nopad_bin"}, collations


def test_names_that_differ_in_case_are_two_people(service: Service, accounts: dict[str, str], config_file: Path,
                                                  db_url: str, gridauth: Any) -> None:
    service.edit(lambda cfg: edits.user_add(cfg, "ALICE", groups=["dteam_user"]))
    alice_hash = service.context.accounts.password_hash("alice")
    browser = Browser(service)
    _, page, _ = browser.follow("/login")
    assert browser.login(page, "ALICE", PASSWORDS["alice"])[0] == 401  # alice's password is not ALICE's
    assert service.context.accounts.password_hash("ALICE") is None

    result = passwd(gridauth, config_file, db_url, "ALICE", NEW_PASSWORD)
    assert result.returncode == 0, result.stderr
    assert service.context.accounts.password_hash("alice") == alice_hash  # alice's is untouched
    assert service.context.accounts.check_password("alice", PASSWORDS["alice"])
    assert not service.context.accounts.check_password("alice", NEW_PASSWORD)
    _, page, _ = browser.follow("/login")
    status, home, _ = browser.login(page, "ALICE", NEW_PASSWORD)
    assert status == 200 and "signed in as <strong>ALICE</strong>" in home
    stranger = Browser(service)
    _, page, _ = stranger.follow("/login")
    assert stranger.login(page, "ALICE", PASSWORDS["alice"])[0] == 401


def test_admin_passwd_ends_the_users_sso_sessions(service: Service, accounts: dict[str, str], config_file: Path,
                                                  db_url: str, gridauth: Any, engine: Engine) -> None:
    signed_in = {}
    for who in ("alice", "alice", "bob"):
        browser = Browser(service)
        _, page, _ = browser.follow("/login")
        status, home, _ = browser.sign_in(page, who)
        assert status == 200 and f"signed in as <strong>{who}</strong>" in home
        signed_in.setdefault(who, []).append(browser)

    result = passwd(gridauth, config_file, db_url, "alice", NEW_PASSWORD)
    assert result.returncode == 0, result.stderr
    shown = engine.url.render_as_string(hide_password=True)
    assert result.stderr.strip() == f"password set for alice in {shown}; 2 SSO sessions ended"
    for browser in signed_in["alice"]:
        assert "You are not signed in" in browser.follow("/")[1]
    assert "signed in as <strong>bob</strong>" in signed_in["bob"][0].follow("/")[1]
    again = passwd(gridauth, config_file, db_url, "alice", PASSWORDS["alice"])
    assert again.stderr.strip() == f"password set for alice in {shown}; 0 SSO sessions ended"


@pytest.mark.parametrize(("path", "data"), [
    ("/token", {"grant_type": "client_credentials"}),
    ("/revoke", {"token": "x"}),
    ("/introspect", {"token": "x"}),
    ("/device_authorization", {"scope": "openid"}),
])
def test_an_unknown_client_and_a_wrong_secret_get_the_same_answer(service: Service, path: str,
                                                                  data: dict[str, str]) -> None:
    def answer(**kw: Any) -> tuple[int, Any, str | None]:
        reply = service.post(path, **kw)
        return reply.status, reply.body, reply.headers.get("WWW-Authenticate")

    basic = [answer(data=data, auth=(client, secret))
             for client, secret in ((SERVICE[0], "wrong"), ("nobody", "wrong"), ("nobody", SERVICE[1]))]
    posted = [answer(data={**data, "client_id": client, "client_secret": secret})
              for client, secret in ((SERVICE[0], "wrong"), ("nobody", "wrong"))]
    named = [answer(data={**data, "client_id": client}) for client in (SERVICE[0], "nobody")]
    for answers in (basic, posted, named):
        assert answers[0][1]["error"] == "invalid_client", answers
        assert all(a == answers[0] for a in answers), answers
    assert basic[0] == posted[0] == named[0]
    assert basic[0][1]["error_description"] == "client authentication failed"
