"""Exact identifiers on MySQL/MariaDB: every text column of every gridauth table gets a binary collation.

MySQL and MariaDB compare text with the collation of its column, and the default ones ignore case
(and, for the ``PAD SPACE`` ones, trailing spaces): ``alice`` and ``ALICE`` were one key of
``local_accounts``, so they shared one password, and ``admin passwd ALICE`` overwrote alice's. Every
column of these tables holds an identifier (a user, client, group, VO, identity provider, subject,
jti, key id, grant id, user code, counter key) or a hash, or text that is never compared, so every
table is converted as a whole (``ALTER TABLE ... CONVERT TO CHARACTER SET utf8mb4 COLLATE ...``)
to the most exact binary collation the server has: ``utf8mb4_nopad_bin`` (MariaDB: no padding
either), ``utf8mb4_0900_bin`` (MySQL 8), else ``utf8mb4_bin``. A table made after this revision
must name that collation itself (``tests/oauth/test_exact_identity.py`` checks every column).

Rows are kept: a binary collation tells apart what the old one did, so no key can collide. SQLite
compares text byte for byte already (its ``BINARY`` collation): nothing changes there.

A table already converted is left alone, so hosts upgrading one database at once all finish.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Most exact first: MariaDB's no-pad binary, MySQL 8's, then the binary collation every server has.
BINARY_COLLATIONS = ("utf8mb4_nopad_bin", "utf8mb4_0900_bin", "utf8mb4_bin")
TABLES = ("grants", "revoked_tokens", "legacy_tokens", "signing_keys", "local_accounts", "authorization_codes",
          "device_flows", "sessions", "login_states", "rate_limits")


def binary_collation(bind: sa.engine.Connection) -> str:
    """The most exact binary utf8mb4 collation the server offers."""
    found = set(bind.execute(sa.text("SELECT collation_name FROM information_schema.collations "
                                     "WHERE character_set_name = 'utf8mb4'")).scalars())
    return next(name for name in BINARY_COLLATIONS if name in found)


def _collations(bind: sa.engine.Connection, table: str) -> set[str]:
    """The collations of *table*'s text columns, and the table's own (its default for new columns)."""
    columns = bind.execute(sa.text(
        "SELECT collation_name FROM information_schema.columns WHERE table_schema = DATABASE() "
        "AND table_name = :t AND collation_name IS NOT NULL"), {"t": table}).scalars()
    own = bind.execute(sa.text("SELECT table_collation FROM information_schema.tables "
                               "WHERE table_schema = DATABASE() AND table_name = :t"), {"t": table}).scalars()
    return {*columns, *own}


def _convert(collation: str | None) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "mysql":
        return
    target = collation or bind.execute(sa.text(
        "SELECT default_collation_name FROM information_schema.schemata WHERE schema_name = DATABASE()")).scalar_one()
    for table in TABLES:
        if _collations(bind, table) != {target}:
            op.execute(sa.text(f"ALTER TABLE {table} CONVERT TO CHARACTER SET utf8mb4 COLLATE {target}"))


def upgrade() -> None:
    """Convert every gridauth table to the server's binary collation (MySQL/MariaDB only)."""
    bind = op.get_bind()
    if bind.dialect.name == "mysql":
        _convert(binary_collation(bind))


def downgrade() -> None:
    """Back to the database's default collation (the one revision 0001 created the tables with).

    It fails (duplicate key) while two rows differ only in case, as the older schema cannot hold both:
    remove one of them first.
    """
    _convert(None)
