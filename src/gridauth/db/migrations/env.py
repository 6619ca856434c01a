"""Alembic's environment for gridauth: migrations run on a connection handed over by ``db/schema.py``.

At run time nothing is read from an ``alembic.ini``: :mod:`gridauth.db.schema` builds the Alembic
configuration and puts its open connection in ``config.attributes["connection"]``. A developer who
runs the ``alembic`` command from a checkout (``alembic revision --autogenerate -m ...``, with the
top-level ``alembic.ini``) gets the database gridauth would use: ``sqlalchemy.url`` if set, else
``--db``'s fallbacks, ``$GRIDAUTH_DB`` or the SQLite file in the state directory.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from gridauth.config.paths import database_url
from gridauth.db.engine import make_engine
from gridauth.db.models import Base

config = context.config


def _migrate(connection: Connection) -> None:
    # Batch mode: SQLite cannot ALTER most things, Alembic then copies the table (a no-op elsewhere).
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def _run() -> None:
    if context.is_offline_mode():
        # The baseline revision inspects the database to adopt pre-Alembic ones: no SQL script without it.
        raise SystemExit("gridauth migrations need a database connection (offline --sql mode is not supported)")
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or database_url())
    try:
        with engine.connect() as connection:
            _migrate(connection)
    finally:
        engine.dispose()


_run()
