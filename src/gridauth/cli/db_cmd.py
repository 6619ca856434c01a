"""``gridauth db``: the database's schema (init, upgrade, current) and housekeeping (purge).

Every command that writes names the database it wrote to (password hidden), so that a command run
against the wrong ``--db`` or ``$GRIDAUTH_DB`` shows it at once. Only ``init`` and ``upgrade`` may
change the schema; every other command refuses a database that is not at the code's revision.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..clock import Clock
from ..config.paths import config_path, config_store_kind, database_url
from ..errors import SchemaMismatch
from .common import add_config_option, add_db_option

if TYPE_CHECKING:
    from ..db.engine import Database
    from ..service import ServiceContext


def open_database(args: argparse.Namespace, create: bool = False) -> Database:
    """The database named by ``--db`` (one worker: commands run one query at a time).

    Without *create*, a missing SQLite file is refused rather than created. No query timeout: a schema
    upgrade may alter a large table for minutes (connecting is still bounded).
    """
    # Imported here, not at the top: commands that need no database start faster.
    from ..db.engine import Database

    return Database(database_url(args.db), workers=1, create=create, query_timeout=None)


def open_context(args: argparse.Namespace, create: bool = False) -> ServiceContext:
    """The service assembled on ``--config`` (or the database's configuration) and ``--db``, its database checked
    to be at the code's revision.

    ``db init`` (*create*) reads the file: a new database holds no configuration yet.
    """
    from ..config.reload import ConfigSource, FileSource, RegistryHolder
    from ..db import schema
    from ..db.config_versions import DatabaseConfigSource
    from ..service import ServiceContext

    db = open_database(args, create)
    if not create:
        schema.check(db)
    in_database = not create and config_store_kind(getattr(args, "config_store", None)) == "database"
    source: ConfigSource = DatabaseConfigSource(db) if in_database else FileSource(config_path(args.config))
    return ServiceContext(RegistryHolder(source), db, Clock())


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``gridauth db``."""
    db = sub.add_parser("db", help="the database: schema revision and housekeeping")
    cmds = db.add_subparsers(dest="db_command", metavar="SUBCOMMAND", required=True)
    for name, func, help_, config in (
        ("init", cmd_init, "create the schema in an empty database, and the first signing key", True),
        ("upgrade", cmd_upgrade, "bring the database to this gridauth's schema revision, keeping every row",
         False),
        ("current", cmd_current, "print the database's schema revision and whether it is this gridauth's "
                                 "(exit status 8 if not)", False),
        ("purge", cmd_purge, "delete expired and revoked tokens and grants", True),
    ):
        p = cmds.add_parser(name, help=help_, description=help_)
        if config:
            add_config_option(p, store=name != "init")
        if name == "init" or not config:
            add_db_option(p)
        p.set_defaults(func=func)


def cmd_init(args: argparse.Namespace) -> int:
    """Create the schema in an empty database (or accept one already at the code's revision), then a key."""
    from ..db import schema

    context = open_context(args, create=True)
    found = schema.status(context.db)
    if found.state not in ("empty", "current"):
        raise SchemaMismatch(f"{found.describe()}; `db init` only initialises an empty database: {found.remedy()}")
    if found.state == "empty":
        _, found = schema.upgrade(context.db)
        done = f"initialised {found.url} at schema revision {found.revision}"
    else:
        done = f"{found.url} is already initialised (schema revision {found.revision})"
    key = context.ensure_signing_key()
    print(f"{done}; signing key {key.kid} ({key.alg})")
    return 0


def cmd_upgrade(args: argparse.Namespace) -> int:
    """Bring the database to the code's revision."""
    from ..db import schema

    db = open_database(args)
    try:
        before, after = schema.upgrade(db)
    finally:
        db.close()
    if before.revision == after.revision and before.state == "current":
        print(f"{after.url} is already at schema revision {after.revision} (this gridauth's); nothing to do")
    else:
        origin = {"empty": "none (empty database)", "legacy": "none (made before schema revisions)"}.get(
            before.state, str(before.revision))
        print(f"upgraded {after.url} from schema revision {origin} to {after.revision}")
    return 0


def cmd_current(args: argparse.Namespace) -> int:
    """Print where the database stands; exit status 0 only when it is at the code's revision."""
    from ..db import schema

    db = open_database(args)
    try:
        found = schema.status(db)
    finally:
        db.close()
    if found.state == "current":
        print(found.describe())
        return 0
    print(f"{found.describe()}; {found.remedy()}")
    return SchemaMismatch.exit_code


def cmd_purge(args: argparse.Namespace) -> int:
    """Delete expired rows now."""
    context = open_context(args)
    counts = context.purge()
    print("purged " + ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in counts.items())
          + f" from {context.db.safe_url}")
    return 0
