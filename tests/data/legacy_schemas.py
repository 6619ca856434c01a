"""The schemas gridauth databases had before Alembic, frozen as test data (tests/test_migrations.py).

Until schema revisions, ``Database.create_schema`` ran ``Base.metadata.create_all`` on the models of
the day and recorded a version in ``gridauth_meta``; it never added a column to a table that existed.
So a database has the tables of the commit that first opened it, plus the tables (never the columns)
of every later commit that opened it. The models changed at these commits of main:

- ``e880368`` (schema_version 1): grants, access tokens, signing keys;
- ``c4f7dd1`` (schema_version 2): + local accounts, authorization codes, device flows, sessions,
  login states, rate limits;
- ``b90beca`` (schema_version 2): + ``idp`` on grants, authorization codes and device flows. Main
  stayed at this schema until Alembic (``cf4ba0f`` changed a comment only).

Each definition below is what ``create_all`` made from that commit's ``db/models.py`` (same names,
types, nullability, indexes and unique keys), written as plain tables so that the test needs neither
git nor the old code.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text

FIRST, INTERACTIVE, IDP = "e880368", "c4f7dd1", "b90beca"
COMMITS = (FIRST, INTERACTIVE, IDP)
SCHEMA_VERSION = {FIRST: "1", INTERACTIVE: "2", IDP: "2"}


def legacy_schema(commit: str) -> MetaData:
    """The tables ``create_all`` made on an empty database at *commit*."""
    idp = commit == IDP
    md = MetaData()
    Table("gridauth_meta", md,
          Column("name", String(64), primary_key=True),
          Column("value", String(255), nullable=False))
    Table("grants", md,
          Column("id", String(32), primary_key=True),
          Column("refresh_token_hash", String(64), unique=True, nullable=True),
          Column("client_id", String(255), nullable=False, index=True),
          Column("username", String(255), nullable=False, index=True),
          Column("group_name", String(255), nullable=False),
          Column("vo", String(255), nullable=False),
          Column("scope", Text, nullable=False),
          Column("auth_time", BigInteger, nullable=False),
          Column("issued_at", BigInteger, nullable=False),
          Column("expires_at", BigInteger, nullable=False, index=True),
          Column("revoked_at", BigInteger, nullable=True),
          *([Column("idp", String(255), nullable=True)] if idp else []))
    Table("access_tokens", md,
          Column("jti", String(64), primary_key=True),
          Column("grant_id", String(32), nullable=True),
          Column("client_id", String(255), nullable=False),
          Column("username", String(255), nullable=True),
          Column("scope", Text, nullable=False),
          Column("issued_at", BigInteger, nullable=False),
          Column("expires_at", BigInteger, nullable=False, index=True),
          Column("revoked_at", BigInteger, nullable=True),
          Index("ix_access_tokens_grant_revoked", "grant_id", "revoked_at"))
    Table("signing_keys", md,
          Column("kid", String(64), primary_key=True),
          Column("alg", String(16), nullable=False),
          Column("private_jwk", Text, nullable=False),
          Column("created_at", BigInteger, nullable=False, index=True),
          Column("publish_until", BigInteger, nullable=True),
          Column("seq", Integer, nullable=False))
    if commit == FIRST:
        return md
    Table("local_accounts", md,
          Column("username", String(255), primary_key=True),
          Column("password_hash", String(255), nullable=False),
          Column("updated_at", BigInteger, nullable=False))
    Table("authorization_codes", md,
          Column("code_hash", String(64), primary_key=True),
          Column("client_id", String(255), nullable=False),
          Column("redirect_uri", Text, nullable=True),
          Column("scope", Text, nullable=False),
          Column("username", String(255), nullable=False),
          Column("group_name", String(255), nullable=False),
          Column("vo", String(255), nullable=False),
          Column("properties", Text, nullable=False),
          Column("nonce", String(255), nullable=True),
          Column("code_challenge", String(128), nullable=True),
          Column("code_challenge_method", String(16), nullable=True),
          Column("auth_time", BigInteger, nullable=False),
          Column("expires_at", BigInteger, nullable=False, index=True),
          Column("used_at", BigInteger, nullable=True),
          Column("grant_id", String(32), nullable=True),
          *([Column("idp", String(255), nullable=True)] if idp else []))
    Table("device_flows", md,
          Column("device_code_hash", String(64), primary_key=True),
          Column("user_code", String(16), nullable=False, unique=True),
          Column("client_id", String(255), nullable=False),
          Column("scope", Text, nullable=False),
          Column("status", String(16), nullable=False),
          Column("interval", Integer, nullable=False),
          Column("last_polled_at", BigInteger, nullable=True),
          Column("expires_at", BigInteger, nullable=False, index=True),
          Column("username", String(255), nullable=True),
          Column("group_name", String(255), nullable=True),
          Column("vo", String(255), nullable=True),
          Column("properties", Text, nullable=True),
          Column("auth_time", BigInteger, nullable=True),
          *([Column("idp", String(255), nullable=True)] if idp else []))
    Table("sessions", md,
          Column("id_hash", String(64), primary_key=True),
          Column("username", String(255), nullable=False),
          Column("idp", String(255), nullable=False),
          Column("groups", Text, nullable=True),
          Column("auth_time", BigInteger, nullable=False),
          Column("expires_at", BigInteger, nullable=False, index=True),
          Column("revoked_at", BigInteger, nullable=True))
    Table("login_states", md,
          Column("state", String(128), primary_key=True),
          Column("data", Text, nullable=False),
          Column("next_url", Text, nullable=False),
          Column("expires_at", BigInteger, nullable=False, index=True))
    Table("rate_limits", md,
          Column("key", String(255), primary_key=True),
          Column("window_start", BigInteger, nullable=False),
          Column("count", Integer, nullable=False))
    return md
