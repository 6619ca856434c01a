"""``gridauth keys``: the signing keys shared by every process through the database."""

from __future__ import annotations

import argparse
import datetime as dt

from .common import add_config_option, print_json
from .db_cmd import open_context

JWKS_MAX_AGE = 60  # the Cache-Control max-age of /jwks (web/discovery.py)


def _when(seconds: int | None) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).isoformat(timespec="seconds") if seconds else "-"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``gridauth keys``."""
    keys = sub.add_parser("keys", help="signing keys (shared by every process through the database)")
    cmds = keys.add_subparsers(dest="keys_command", metavar="SUBCOMMAND", required=True)
    for name, func, help_ in (("list", cmd_list, "list the published keys, newest (signing) first"),
                              ("rotate", cmd_rotate, "add a new signing key; old keys stay published until "
                                                     "the tokens they signed expired")):
        p = cmds.add_parser(name, help=help_)
        add_config_option(p, store=True)
        p.add_argument("--json", action="store_true", help="print JSON for scripts")
        p.set_defaults(func=func)


def cmd_list(args: argparse.Namespace) -> int:
    """Print the published keys."""
    context = open_context(args)
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

    context = open_context(args)
    registry = context.registry
    margin = int(2 * context.keyring.refresh_interval)  # every process has re-read the keys by then
    keep = max_access_token_lifetime(registry) + margin + 60
    activate_in = JWKS_MAX_AGE + margin
    key = context.keyring.add(registry.settings.signing_algorithm, retire_after=keep, activate_in=activate_in)
    if args.json:
        print_json({"kid": key.kid, "alg": key.alg, "signs_from": _when(key.active_from),
                    "database": context.db.safe_url})
    else:
        print(f"new signing key {key.kid} ({key.alg}) in {context.db.safe_url}, published now, signing from "
              f"{_when(key.active_from)} (in {activate_in} s); previous keys stay published {keep} s after that")
    return 0
