"""One configuration on every host: the published configuration versions live in the database.

- ``config_versions``: each published version of the CFG text (whole), with its time, author,
  comment and SHA-256, numbered from 1. Used only when an operator chooses the database mode
  (``--config-store database``); the file mode leaves the table empty. The edit lock is a lease row
  of ``rate_limits`` (``lease:config-edit``), so it needs no table.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import BigInteger, Column, Integer, String, Text
from sqlalchemy.dialects import mysql

from gridauth.db.migrations.collation import exact_collation

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the table unless a host upgrading at the same moment did (as 0002 and 0004 look first)."""
    bind = op.get_bind()
    if "config_versions" in set(sa.inspect(bind).get_table_names()):
        return
    op.create_table("config_versions",
                    Column("id", Integer, primary_key=True, autoincrement=False),
                    Column("created_at", BigInteger, nullable=False),
                    Column("author", String(255), nullable=False),
                    Column("comment", Text, nullable=False),
                    Column("sha256", String(64), nullable=False),
                    Column("text", Text().with_variant(mysql.LONGTEXT(), "mysql"), nullable=False),
                    **exact_collation(bind))  # type: ignore[arg-type]  # dialect keywords


def downgrade() -> None:
    """Drop the published versions: hosts go back to their files (export the latest version first)."""
    op.drop_table("config_versions")
