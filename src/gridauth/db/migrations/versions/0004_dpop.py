"""DPoP (RFC 9449): grants and authorization codes remember a key; proofs already used are kept a while.

- ``grants.dpop_jkt``: the thumbprint (RFC 7638) of the key a public client's refresh token is bound
  to; NULL for every grant made before (they stay unbound, as they were issued).
- ``authorization_codes.dpop_jkt``: the ``dpop_jkt`` of the authorization request (RFC 9449 §10).
- ``dpop_proofs``: a digest of each accepted proof's key and ``jti`` until its ``iat`` window is
  over, so that a proof is accepted once across every process and host; purged by ``expires_at``.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import BigInteger, Column, String

from gridauth.db.migrations.collation import exact_collation

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the two columns and the table; each step looks first, as in 0002 (hosts upgrading at once)."""
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    if "dpop_proofs" not in set(inspector.get_table_names()):
        op.create_table("dpop_proofs",
                        Column("digest", String(64), primary_key=True),
                        Column("expires_at", BigInteger, nullable=False, index=True),
                        **exact_collation(bind))  # type: ignore[arg-type]  # dialect keywords
    for table in ("grants", "authorization_codes"):
        if "dpop_jkt" not in {column["name"] for column in inspector.get_columns(table)}:
            with op.batch_alter_table(table) as batch:
                batch.add_column(Column("dpop_jkt", String(64), nullable=True))


def downgrade() -> None:
    """Forget the bindings: bound refresh tokens become plain bearer tokens again under the older code."""
    for table in ("authorization_codes", "grants"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("dpop_jkt")
    op.drop_table("dpop_proofs")
