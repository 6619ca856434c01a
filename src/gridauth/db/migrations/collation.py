"""What every revision that creates a table needs on MySQL/MariaDB: the exact (binary) collation of 0003."""

from __future__ import annotations

import sqlalchemy as sa


def exact_collation(bind: sa.engine.Connection) -> dict[str, str]:
    """On MySQL/MariaDB, the binary collation revision 0003 gave every table (that of ``grants``); else nothing."""
    if bind.dialect.name != "mysql":
        return {}
    collation = bind.execute(sa.text("SELECT table_collation FROM information_schema.tables "
                                     "WHERE table_schema = DATABASE() AND table_name = 'grants'")).scalar_one()
    return {"mysql_charset": "utf8mb4", "mysql_collate": collation}
