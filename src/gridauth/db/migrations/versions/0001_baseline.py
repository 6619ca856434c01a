"""Baseline: the schema of gridauth before Alembic, created on an empty database or completed on an old one.

Before this revision, ``create_all`` made the tables and ``gridauth_meta`` recorded a schema version
(1 at the first release, with grants, access tokens and signing keys only; 2 from the interactive
login on), and columns added later (the ``idp`` of grants, authorization codes and device flows)
were never added to databases made earlier. So this revision inspects first:

- a table that is missing is created, with its indexes;
- a table that exists gets the columns and indexes it lacks (all of them nullable: rows are kept
  as they are, the new columns NULL, which the code reads as "not recorded");
- ``gridauth_meta`` is dropped: its one row, the schema version, is what ``alembic_version`` now holds.

The tables are defined here, frozen as they are at this revision: ``models.py`` moves on with
later revisions, this file never does.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import BigInteger, Column, Index, Integer, String, Text

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def baseline() -> sa.MetaData:
    """The tables at this revision (new objects at each call)."""
    md = sa.MetaData()
    sa.Table(
        "grants", md,
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
        Column("idp", String(255), nullable=True),
    )
    sa.Table(
        "access_tokens", md,
        Column("jti", String(64), primary_key=True),
        Column("grant_id", String(32), nullable=True),
        Column("client_id", String(255), nullable=False),
        Column("username", String(255), nullable=True),
        Column("scope", Text, nullable=False),
        Column("issued_at", BigInteger, nullable=False),
        Column("expires_at", BigInteger, nullable=False, index=True),
        Column("revoked_at", BigInteger, nullable=True),
        Index("ix_access_tokens_grant_revoked", "grant_id", "revoked_at"),
    )
    sa.Table(
        "signing_keys", md,
        Column("kid", String(64), primary_key=True),
        Column("alg", String(16), nullable=False),
        Column("private_jwk", Text, nullable=False),
        Column("created_at", BigInteger, nullable=False, index=True),
        Column("publish_until", BigInteger, nullable=True),
        Column("seq", Integer, nullable=False),
    )
    sa.Table(
        "local_accounts", md,
        Column("username", String(255), primary_key=True),
        Column("password_hash", String(255), nullable=False),
        Column("updated_at", BigInteger, nullable=False),
    )
    sa.Table(
        "authorization_codes", md,
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
        Column("idp", String(255), nullable=True),
    )
    sa.Table(
        "device_flows", md,
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
        Column("idp", String(255), nullable=True),
    )
    sa.Table(
        "sessions", md,
        Column("id_hash", String(64), primary_key=True),
        Column("username", String(255), nullable=False),
        Column("idp", String(255), nullable=False),
        Column("groups", Text, nullable=True),
        Column("auth_time", BigInteger, nullable=False),
        Column("expires_at", BigInteger, nullable=False, index=True),
        Column("revoked_at", BigInteger, nullable=True),
    )
    sa.Table(
        "login_states", md,
        Column("state", String(128), primary_key=True),
        Column("data", Text, nullable=False),
        Column("next_url", Text, nullable=False),
        Column("expires_at", BigInteger, nullable=False, index=True),
    )
    sa.Table(
        "rate_limits", md,
        Column("key", String(255), primary_key=True),
        Column("window_start", BigInteger, nullable=False),
        Column("count", Integer, nullable=False),
    )
    return md


def upgrade() -> None:
    """Create what is missing, keep every row, drop the pre-Alembic version record."""
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    present = set(inspector.get_table_names())
    for table in baseline().sorted_tables:
        if table.name not in present:
            table.create(bind)
            continue
        have = {column["name"] for column in inspector.get_columns(table.name)}
        missing = [column for column in table.columns if column.name not in have]
        if missing:
            with op.batch_alter_table(table.name) as batch:
                for column in missing:
                    if not column.nullable:  # every column added since the first release is nullable
                        raise RuntimeError(f"{table.name}.{column.name}: cannot add a NOT NULL column to old rows")
                    batch.add_column(Column(column.name, column.type, nullable=True))
        indexed = {index["name"] for index in inspector.get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in indexed:
                op.create_index(str(index.name), table.name, [column.name for column in index.columns],
                                unique=bool(index.unique))
    if "gridauth_meta" in present:
        op.drop_table("gridauth_meta")


def downgrade() -> None:
    """Back to nothing: drop every table (the pre-Alembic version record is not recreated)."""
    for table in reversed(baseline().sorted_tables):
        op.drop_table(table.name)
