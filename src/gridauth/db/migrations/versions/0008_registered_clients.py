"""Dynamic client registration (RFC 7591 / 7592): the ``registered_clients`` table.

Clients registered at ``/register`` live in the database (CFG clients stay in the CFG): their
metadata as JSON, their secret and registration access token as hashes, their owner, the groups an
administrator allowed, and ``expires_at``, the end of their idle time, indexed for the purge.
A new, empty table: nothing to carry over.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import BigInteger, Column, String, Text

from gridauth.db.migrations.collation import exact_collation

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the table (unless a host upgrading at the same time already did), with the exact collation of 0003."""
    bind = op.get_bind()
    if "registered_clients" in set(sa.inspect(bind).get_table_names()):
        return
    op.create_table("registered_clients",
                    Column("client_id", String(64), primary_key=True),
                    Column("client_secret_hash", String(255), nullable=True),
                    Column("registration_token_hash", String(64), nullable=False),
                    Column("owner", String(255), nullable=True, index=True),
                    Column("metadata_json", Text, nullable=False),
                    Column("groups", Text, nullable=True),
                    Column("issued_at", BigInteger, nullable=False),
                    Column("last_used_at", BigInteger, nullable=False),
                    Column("expires_at", BigInteger, nullable=False, index=True),
                    **exact_collation(bind))  # type: ignore[arg-type]  # dialect keywords


def downgrade() -> None:
    """Forget the registered clients: the older code does not know them (their tokens stop refreshing)."""
    op.drop_table("registered_clients")
