"""``gridauth keys`` and ``gridauth db``: signing keys and database housekeeping."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import TYPE_CHECKING

from ..clock import Clock
from ..config.paths import config_path, database_url
from .common import add_config_option, add_db_option, print_json

JWKS_MAX_AGE = 60  # the Cache-Control max-age of /jwks (web/discovery.py)

if TYPE_CHECKING:
    from ..service import ServiceContext


def _context(args: argparse.Namespace) -> ServiceContext:
    # Imported here, not at the top: commands that need no database start faster.
    from ..config.reload import RegistryHolder
    from ..db.engine import Database
    from ..service import ServiceContext

    context = ServiceContext(RegistryHolder(config_path(args.config)), Database(database_url(args.db), workers=1),
                             Clock())
    context.db.create_schema()
    return context


def _when(seconds: int | None) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).isoformat(timespec="seconds") if seconds else "-"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``gridauth keys`` and ``gridauth db``."""
    keys = sub.add_parser("keys", help="signing keys (shared by every process through the database)")
    cmds = keys.add_subparsers(dest="keys_command", metavar="SUBCOMMAND", required=True)
    for name, func, help_ in (("list", cmd_list, "list the published keys, newest (signing) first"),
                              ("rotate", cmd_rotate, "add a new signing key; old keys stay published until "
                                                     "the tokens they signed expired")):
        p = cmds.add_parser(name, help=help_)
        add_config_option(p)
        add_db_option(p)
        p.add_argument("--json", action="store_true", help="print JSON for scripts")
        p.set_defaults(func=func)
    db = sub.add_parser("db", help="database housekeeping")
    dbcmds = db.add_subparsers(dest="db_command", metavar="SUBCOMMAND", required=True)
    for name, func, help_ in (("init", cmd_init, "create or migrate the tables and the first signing key"),
                              ("purge", cmd_purge, "delete expired and revoked tokens and grants")):
        p = dbcmds.add_parser(name, help=help_)
        add_config_option(p)
        add_db_option(p)
        p.set_defaults(func=func)


def cmd_list(args: argparse.Namespace) -> int:
    """Print the published keys."""
    context = _context(args)
    rows = context.keyring.store.published(context.clock.now())
    listing = [{"name": r.kid, "kid": r.kid, "alg": r.alg, "signs_from": _when(r.created_at),
                "published_until": _when(r.publish_until) if r.publish_until else "current"} for r in rows]
    if args.json:
        print_json(listing)
    for row in [] if args.json else listing:
        print(f"{row['kid']}\t{row['alg']}\tsigns from {row['signs_from']}\tpublished until {row['published_until']}")
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    """Add a key of the configured algorithm as the new signing key."""
    from ..service import max_access_token_lifetime

    context = _context(args)
    registry = context.registry
    margin = int(2 * context.keyring.refresh_interval)  # every process has re-read the keys by then
    keep = max_access_token_lifetime(registry) + margin + 60
    activate_in = JWKS_MAX_AGE + margin
    key = context.keyring.add(registry.settings.signing_algorithm, retire_after=keep, activate_in=activate_in)
    if args.json:
        print_json({"kid": key.kid, "alg": key.alg, "signs_from": _when(key.active_from)})
    else:
        print(f"new signing key {key.kid} ({key.alg}), published now, signing from {_when(key.active_from)} "
              f"(in {activate_in} s); previous keys stay published {keep} s after that")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    """Create tables and the first key."""
    context = _context(args)
    context.prepare_storage()
    print(f"database ready: {context.db.safe_url}")
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    """Delete expired rows now."""
    context = _context(args)
    counts = context.purge()
    print("purged " + ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in counts.items()))
    return 0
