"""Options shared by several subcommands, and printing helpers."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from ..config.paths import STORES, config_path, config_store_kind, database_url
from ..config.store import ConfigStore, VersionStore

if TYPE_CHECKING:
    from ..db.engine import Database


def add_config_option(parser: argparse.ArgumentParser, store: bool = False) -> None:
    """``--config FILE`` (else ``$GRIDAUTH_CONFIG``, else the installed default).

    With *store* (commands that read or edit the configuration, wherever it lives), also
    ``--config-store file|database`` and the ``--db`` that the database mode reads.
    """
    parser.add_argument("--config", metavar="FILE", help="configuration file (default: $GRIDAUTH_CONFIG, "
                        "else the example shipped in the package)")
    if store:
        add_store_option(parser)
        add_db_option(parser)


def add_store_option(parser: argparse.ArgumentParser) -> None:
    """``--config-store file|database`` (else ``$GRIDAUTH_CONFIG_STORE``, else ``file``)."""
    parser.add_argument("--config-store", choices=STORES, help="where the configuration lives: this host's file "
                        "(--config) or the versions published in the database (--db), shared by every host "
                        "(default: $GRIDAUTH_CONFIG_STORE, else file)")


def add_db_option(parser: argparse.ArgumentParser) -> None:
    """``--db URL`` (else ``$GRIDAUTH_DB``, else the embedded SQLite file)."""
    parser.add_argument("--db", metavar="URL", help="database URL (default: $GRIDAUTH_DB, else an SQLite file "
                        "in $GRIDAUTH_STATE_DIR)")


def add_edit_options(parser: argparse.ArgumentParser) -> None:
    """Who edits and why, and how long to wait for another administrator's edit."""
    add_config_option(parser, store=True)
    parser.add_argument("-m", "--comment", default="", help="why this change (kept in the history)")
    parser.add_argument("--author", help="who makes this change (default: $GRIDAUTH_AUTHOR, else your login)")
    parser.add_argument("--lock-timeout", type=float, default=10.0, metavar="SECONDS",
                        help="how long to wait for another edit to finish (default: 10)")
    parser.add_argument("--base-version", type=int, metavar="N", help="the version this edit is based on: refused "
                        "(exit 6, nothing written) when another edit came after it")


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """``--server URL`` (the admin API of a server, with the login session's token) and ``--local`` (the file here).

    Accepted before the subcommand (``gridauth admin --server URL user list``) and after it; SUPPRESS
    keeps a subcommand's absent option from hiding the one given before it.
    """
    parser.add_argument("--server", metavar="URL", default=argparse.SUPPRESS,
                        help="act through the admin API of this gridauth server, with the token of your "
                             "'gridauth login' (default: $GRIDAUTH_ADMIN_SERVER, else 'gridauth admin server')")
    parser.add_argument("--local", action="store_true", default=argparse.SUPPRESS,
                        help="edit the configuration file on this host even when an admin server is remembered")


def store_from(args: argparse.Namespace) -> VersionStore:
    """The configuration store named by the command's options: this host's file, or the database's versions."""
    lock_timeout = getattr(args, "lock_timeout", 10.0)
    if config_store_kind(getattr(args, "config_store", None)) == "database":
        from ..db.config_versions import open_store  # the database layer only in this mode: commands start faster

        return open_store(database_url(getattr(args, "db", None)), lock_timeout)
    return ConfigStore(config_path(args.config), lock_timeout=lock_timeout)


def print_json(value: Any) -> None:
    """Print *value* as indented JSON for scripts."""
    print(json.dumps(value, indent=2, sort_keys=False))


def csv(value: str) -> list[str]:
    """argparse type for ``A,B,C`` lists."""
    return [item.strip() for item in value.split(",") if item.strip()]


def open_database(args: argparse.Namespace) -> Database:
    """The database of ``--db``, checked to be at this gridauth's schema revision (never created)."""
    from ..db import schema  # the database layer only for the commands that use it: others start faster
    from ..db.engine import Database

    db = Database(database_url(args.db), workers=1, create=False)
    try:
        schema.check(db)
    except BaseException:
        db.close()
        raise
    return db
