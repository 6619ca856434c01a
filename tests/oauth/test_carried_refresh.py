"""Refresh tokens that carry their grant's fields (``oauth/carried.py``), over real HTTP on SQLite and MariaDB.

A refresh of such a token is one statement (the renewal); fields a client changed are never believed,
and nothing is done on their word: no renewal, no suspected theft, no revocation. Plain tokens (issued
before) are still decided on the grant read first. Nothing is mocked.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from gridauth.db.tokens import NewGrant
from gridauth.hashing import b64url, token_digest
from gridauth.oauth.carried import MAX_CARRYING_LENGTH, VERSION, carried_grant, carrying_token
from gridauth.oauth.issuer import refresh_token_value

from .conftest import issue_grant
from .proofs import Holder
from .test_dpop import device_login, refresh
from .test_theft import audit, theft_lines  # noqa: F401 - audit is a fixture

FIELDS = ("id", "client_id", "username", "group", "vo", "scope", "auth_time", "issued_at", "expires_at", "idp",
          "dpop_jkt", "parent_id", "actor")
UNKNOWN = {"error": "invalid_grant", "error_description": "unknown refresh token"}


@contextlib.contextmanager
def grant_statements(engine: Engine) -> Iterator[list[str]]:
    """The verbs of the statements on the grants table while the block runs (the hot path's included)."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if re.search(r"\bgrants\b", statement):
            seen.append(statement.split()[0].upper())
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def fields_of(token: str) -> list[Any]:
    """The fields *token* carries, as JSON values (the version first)."""
    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))


def changed(token: str, **changes: Any) -> str:
    """*token* with some of its fields changed (the secret kept), as a client could send it."""
    fields = fields_of(token)
    for name, value in changes.items():
        fields[1 + FIELDS.index(name)] = value
    return b64url(json.dumps(fields).encode()) + "." + token.split(".")[1]


def test_a_refresh_is_one_statement_and_a_plain_token_two(service):
    carried, plain = issue_grant(service), issue_grant(service, carried=False)
    engine = service.context.db.engine
    with grant_statements(engine) as seen:
        reply = service.refresh(carried)
    assert reply.status == 200, reply.body
    assert seen == ["UPDATE"]
    with grant_statements(engine) as seen:
        assert service.refresh(plain).status == 200
    assert seen == ["SELECT", "UPDATE"]
    # Both still end the access tokens issued before from their grant.
    first = service.refresh(carried).body["access_token"]
    assert service.refresh(carried).status == 200
    assert service.introspect(first) == {"active": False}


def test_a_login_carries_exactly_the_stored_grant(service):
    token = issue_grant(service, scope="openid group:lhcb_user")
    grant = carried_grant(token)
    assert grant is not None
    stored = service.context.tokens.grant_by_refresh_token(token)
    assert stored is not None
    for name in ("id", "client_id", "username", "group_name", "vo", "scope", "auth_time", "issued_at",
                 "expires_at", "idp", "dpop_jkt", "parent_id", "actor"):
        assert getattr(grant, name) == getattr(stored, name), name
    assert (grant.username, grant.group_name, grant.vo) == ("alice", "lhcb_user", "lhcb")
    # Only the whole token's hash is stored; the secret is 256 bits, as a plain token's.
    assert len(token.split(".")[1]) == 43
    with service.context.db.engine.connect() as conn:
        hashes = [row[0] for row in conn.exec_driver_sql("SELECT refresh_token_hash FROM grants")]
    assert token_digest(token) in hashes and token not in str(hashes)


@pytest.mark.parametrize("change", [
    {"group": "dteam_admin"}, {"username": "bob"}, {"vo": "lhcb", "group": "lhcb_user"},
    {"scope": "openid profile group:dteam_admin"}, {"expires_at": 4_000_000_000}, {"idp": None},
    {"id": "0" * 32}, {"actor": '{"sub": "example-portal"}'},
    {"scope": "openid group:dteam_user storage.read:/nowhere"},  # a capability no policy grants
], ids=lambda change: ",".join(f"{k}={str(v)[:12]}" for k, v in change.items()))
def test_changed_fields_are_an_unknown_token_and_renew_nothing(service, change):
    token = issue_grant(service)
    first = service.refresh(token).body["access_token"]
    with grant_statements(service.context.db.engine) as seen:
        reply = service.refresh(changed(token, **change))
    assert (reply.status, reply.body) == (400, UNKNOWN)
    # Refused by a check on the fields, or by the renewal, which matched nothing: then the token's hash
    # found no grant either.
    assert seen in (["SELECT"], ["UPDATE", "SELECT"])
    assert service.introspect(first)["active"] is True  # the grant did not move on
    assert service.refresh(token).status == 200


def test_fields_of_a_bound_grant_with_another_secret_record_no_theft(service, accounts, audit):  # noqa: F811
    """A client that knows a DPoP-bound grant's fields (they are in its token) but not its secret: checked as that
    grant, the missing proof would read as a stolen token and revoke the user's grants from the client."""
    holder = Holder(clock=service.clock)
    genuine = device_login(service, holder)["refresh_token"]
    other = device_login(service, holder)["refresh_token"]
    assert fields_of(genuine)[1 + FIELDS.index("dpop_jkt")] == holder.jkt
    guessed = genuine.split(".")[0] + "." + refresh_token_value()
    for proof in (None, Holder(clock=service.clock)):  # no proof; a proof by another key
        reply = refresh(service, guessed, proof)
        assert reply.status == 400 and reply.body["error"] in ("invalid_grant", "invalid_dpop_proof"), reply.body
        assert reply.body == UNKNOWN
    assert theft_lines(audit) == []
    assert refresh(service, genuine, holder).status == 200 and refresh(service, other, holder).status == 200


def test_fields_of_a_user_no_longer_in_the_group_revoke_nothing(service):
    """Past the grace period a refused membership revokes the grant: never the grant named by changed fields."""
    token = issue_grant(service)
    service.clock.advance(3600)  # the registry in use has been served for RemovalGracePeriod
    reply = service.refresh(changed(token, username="carol"))  # carol is not in dteam_user
    assert (reply.status, reply.body) == (400, UNKNOWN)
    assert service.refresh(token).status == 200


def test_a_revoked_grants_carried_token_is_refused_as_revoked(service):
    token = issue_grant(service)
    access = service.refresh(token).body["access_token"]
    assert service.post("/revoke", {"token": token}, auth=("example-portal", "portal-secret")).status == 200
    reply = service.refresh(token)
    assert reply.body == {"error": "invalid_grant", "error_description": "the refresh token was revoked"}
    assert service.introspect(access) == {"active": False}


def _b64(data: str) -> str:
    return b64url(data.encode())


SECRET = "s" * 43
FIELD_VALUES = ["0" * 32, "example-portal", "alice", "dteam_user", "dteam", "openid", 1, 1, 4_000_000_000, None,
                None, None, None]


@pytest.mark.parametrize("value", [
    "!!!." + SECRET,  # not base64url
    _b64("[" * 3000) + "." + SECRET,  # JSON nested too deep
    b64url(b"[\xff\xfe]") + "." + SECRET,  # not UTF-8
    _b64(json.dumps(["g9", *FIELD_VALUES])) + "." + SECRET,  # another version
    _b64(json.dumps([VERSION, *FIELD_VALUES[:6], True, 1, 4_000_000_000, None, None, None, None])) + "." + SECRET,
    _b64(json.dumps([VERSION, *FIELD_VALUES[:6], 1.5, 1, 4_000_000_000, None, None, None, None])) + "." + SECRET,
    _b64(json.dumps([VERSION, *FIELD_VALUES[:-1]])) + "." + SECRET,  # a field short
    _b64(json.dumps({"id": "x"})) + "." + SECRET,
    _b64(json.dumps([VERSION, *FIELD_VALUES])) + ".a." + SECRET,  # one dot too many
    "." + SECRET, _b64(json.dumps([VERSION, *FIELD_VALUES])) + ".",
    _b64(json.dumps([VERSION, *FIELD_VALUES[:5], "x" * 3000, *FIELD_VALUES[6:]])) + "." + SECRET,  # too long
], ids=["base64", "nesting", "utf8", "version", "bool", "float", "short", "object", "dots", "no-fields",
        "no-secret", "long"])
def test_malformed_fields_are_an_unknown_token(service, value):
    assert carried_grant(value) is None
    reply = service.refresh(value)
    assert (reply.status, reply.body) == (400, UNKNOWN)


def test_a_grant_too_long_to_carry_gets_a_plain_token():
    grant = NewGrant(client_id="c", username="alice", group="g", vo="v", scope="openid " + "x" * MAX_CARRYING_LENGTH,
                     auth_time=1, issued_at=1, expires_at=2, id="0" * 32)
    assert carrying_token(grant, SECRET) == SECRET
    short = carrying_token(NewGrant(client_id="c", username="alice", group="g", vo="v", scope="openid", auth_time=1,
                                    issued_at=1, expires_at=2, id="0" * 32), SECRET)
    assert short.endswith("." + SECRET) and carried_grant(short) is not None
    with pytest.raises(ValueError):
        carrying_token(NewGrant(client_id="c", username="a", group="g", vo="v", scope="", auth_time=1, issued_at=1,
                                expires_at=2), SECRET)
