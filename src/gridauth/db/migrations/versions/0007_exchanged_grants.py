"""Token exchange (RFC 8693): a grant made by an exchange names its subject's grant and the ``act`` it carries.

- ``grants.parent_id``: the grant of the subject token an exchanged grant was made from (indexed:
  revoking a grant looks up the grants exchanged from it, which are revoked in the same transaction);
  NULL for every grant made before, all of them a login's.
- ``grants.actor``: the ``act`` claim (JSON) the access tokens of an exchanged grant carry on refresh;
  NULL: none (a login's grant, or an impersonation).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Column, String, Text

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the two columns and the index; each step looks first, as in 0002 (hosts upgrading at once)."""
    inspector = sa.inspect(op.get_bind())
    present = {column["name"] for column in inspector.get_columns("grants")}
    indexed = {index["name"] for index in inspector.get_indexes("grants")}
    with op.batch_alter_table("grants") as batch:
        if "parent_id" not in present:
            batch.add_column(Column("parent_id", String(32), nullable=True))
        if "actor" not in present:
            batch.add_column(Column("actor", Text, nullable=True))
        if "ix_grants_parent_id" not in indexed:
            batch.create_index("ix_grants_parent_id", ["parent_id"])


def downgrade() -> None:
    """Forget the links: exchanged grants stay, but revoking their subject's grant no longer reaches them."""
    with op.batch_alter_table("grants") as batch:
        batch.drop_index("ix_grants_parent_id")
        batch.drop_column("actor")
        batch.drop_column("parent_id")
