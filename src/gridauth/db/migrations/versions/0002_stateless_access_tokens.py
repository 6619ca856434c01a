"""Stateless access tokens: the ``access_tokens`` table goes; grants get a generation; a deny list.

From this revision an access token is not stored. Its ``jti`` names its grant and the grant's
generation (bumped by every refresh), and it is active while the grant is not revoked and still at
that generation; single access tokens revoked early are in ``revoked_tokens`` until they expire.

The access tokens of the old table keep their state exactly:

- a revoked one that has not expired yet goes to ``revoked_tokens``;
- an unrevoked one that has not expired yet goes to ``legacy_tokens`` with its grant (NULL when it
  has none, or its grant is gone): it stays active while that grant is not revoked and has not been
  refreshed since the upgrade (every grant starts at generation 0), as a refresh or a revocation
  would have ended it before; the rows go when the tokens expire;
- an expired one is dropped.

``grants`` also get ``last_used_at`` and ``purge_at`` (when the row may go: the later of the
refresh token's expiry and its newest access token's; the revocation time once revoked), indexed
because the purge filters on it alone; ``authorization_codes`` get ``replayed_at``.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op
from sqlalchemy import BigInteger, Column, Index, Integer, String, Text

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the new columns and tables, move the access tokens that still matter, drop ``access_tokens``.

    Each step looks first (a table, column or index already there is left alone), so that hosts
    upgrading one MariaDB database at once, whose DDL commits statement by statement, finish it
    whichever of them gets where first.
    """
    now = int(time.time())
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    tables = set(inspector.get_table_names())
    if "revoked_tokens" not in tables:
        op.create_table("revoked_tokens",
                        Column("jti", String(128), primary_key=True),
                        Column("expires_at", BigInteger, nullable=False, index=True))
    if "legacy_tokens" not in tables:
        op.create_table("legacy_tokens",
                        Column("jti", String(64), primary_key=True),
                        Column("grant_id", String(32), nullable=True),
                        Column("expires_at", BigInteger, nullable=False, index=True))
    grant_columns = {column["name"] for column in inspector.get_columns("grants")}
    with op.batch_alter_table("grants") as batch:
        if "generation" not in grant_columns:
            batch.add_column(Column("generation", Integer, nullable=False, server_default="0"))
        if "last_used_at" not in grant_columns:
            batch.add_column(Column("last_used_at", BigInteger, nullable=True))
        if "purge_at" not in grant_columns:
            batch.add_column(Column("purge_at", BigInteger, nullable=True))
    if "replayed_at" not in {column["name"] for column in inspector.get_columns("authorization_codes")}:
        with op.batch_alter_table("authorization_codes") as batch:
            batch.add_column(Column("replayed_at", BigInteger, nullable=True))

    if "access_tokens" in tables:
        op.execute(sa.text(
            "INSERT INTO revoked_tokens (jti, expires_at) SELECT a.jti, a.expires_at FROM access_tokens a "
            "WHERE a.revoked_at IS NOT NULL AND a.expires_at > :now "
            "AND NOT EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.jti = a.jti)").bindparams(now=now))
        op.execute(sa.text(
            "INSERT INTO legacy_tokens (jti, grant_id, expires_at) SELECT a.jti, g.id, a.expires_at "
            "FROM access_tokens a LEFT JOIN grants g ON g.id = a.grant_id "
            "WHERE a.revoked_at IS NULL AND a.expires_at > :now "
            "AND NOT EXISTS (SELECT 1 FROM legacy_tokens l WHERE l.jti = a.jti)").bindparams(now=now))
        op.execute(sa.text("UPDATE grants SET purge_at = COALESCE(revoked_at, expires_at)"))
        op.execute(sa.text(
            "UPDATE grants SET purge_at = (SELECT MAX(l.expires_at) FROM legacy_tokens l WHERE l.grant_id = grants.id) "
            "WHERE revoked_at IS NULL "
            "AND purge_at < (SELECT MAX(l.expires_at) FROM legacy_tokens l WHERE l.grant_id = grants.id)"))
    indexes = {index["name"] for index in inspector.get_indexes("grants")}
    with op.batch_alter_table("grants") as batch:
        batch.alter_column("purge_at", existing_type=BigInteger, nullable=False)
        if "ix_grants_purge_at" not in indexes:
            batch.create_index("ix_grants_purge_at", ["purge_at"])
        if "ix_grants_expires_at" in indexes:
            batch.drop_index("ix_grants_expires_at")
    if "access_tokens" in tables:
        op.drop_table("access_tokens")


def downgrade() -> None:
    """Back to stored access tokens: the table returns, empty.

    Access tokens issued since the upgrade were never stored: the older code does not know them, so
    they are inactive after a downgrade (their clients refresh and get stored ones).
    """
    op.create_table("access_tokens",
                    Column("jti", String(64), primary_key=True),
                    Column("grant_id", String(32), nullable=True),
                    Column("client_id", String(255), nullable=False),
                    Column("username", String(255), nullable=True),
                    Column("scope", Text, nullable=False),
                    Column("issued_at", BigInteger, nullable=False),
                    Column("expires_at", BigInteger, nullable=False, index=True),
                    Column("revoked_at", BigInteger, nullable=True),
                    Index("ix_access_tokens_grant_revoked", "grant_id", "revoked_at"))
    with op.batch_alter_table("grants") as batch:
        batch.drop_index("ix_grants_purge_at")
        batch.create_index("ix_grants_expires_at", ["expires_at"])
        batch.drop_column("purge_at")
        batch.drop_column("last_used_at")
        batch.drop_column("generation")
    with op.batch_alter_table("authorization_codes") as batch:
        batch.drop_column("replayed_at")
    op.drop_table("legacy_tokens")
    op.drop_table("revoked_tokens")
