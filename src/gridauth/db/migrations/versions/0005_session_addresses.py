"""Sessions and incident control: grants and SSO sessions remember the address they were used from.

- ``grants.last_address``: the client's address at the grant's last use (its issue, then each
  refresh, written by the refresh's one UPDATE), shown with ``last_used_at`` when an administrator
  lists sessions; NULL for grants from before (not recorded).
- ``sessions.address``: the browser's address at the sign-in; NULL for sessions from before.

The user, client, VO, group and identity provider of a grant were already columns; nothing else
changes, and every row keeps its values.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Column, String

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ADDED = (("grants", "last_address"), ("sessions", "address"))


def upgrade() -> None:
    """Add the two nullable columns; each step looks first, as in 0002 (hosts upgrading at once)."""
    inspector = sa.inspect(op.get_bind())
    for table, column in ADDED:
        if column not in {found["name"] for found in inspector.get_columns(table)}:
            with op.batch_alter_table(table) as batch:
                batch.add_column(Column(column, String(64), nullable=True))


def downgrade() -> None:
    """Forget the addresses: the older code neither writes nor reads them."""
    for table, column in ADDED:
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column)
