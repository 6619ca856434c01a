"""``gridauth admin``: everyday registry edits (users, groups, VOs, clients), each validated and recorded."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import Any

from ..admin import edits
from ..clock import Clock
from ..config.cfgfile import parse
from ..config.paths import database_url
from ..errors import EditError
from .common import add_config_option, add_db_option, add_edit_options, csv, print_json, store_from

MIN_PASSWORD = 8


def _edit(args: argparse.Namespace, change: Callable[..., Any], what: str) -> Any:
    """Run *change* on the configuration under the store's lock; return what it returned."""
    result: dict[str, Any] = {}

    def apply(cfg: Any) -> None:
        result["value"] = change(cfg)

    version = store_from(args).edit(apply, args.author, args.comment or f"admin {what}")
    if version is not None:
        print(f"{what}: written as version {version.id}", file=sys.stderr)
    value = result.get("value")
    if args.json and value is None:  # what changed, for scripts (client commands print their credentials)
        print_json({"name": args.name, "action": what, "version": version.id if version else None})
    return value


def _list(args: argparse.Namespace, lister: Callable[[Any], list[dict[str, Any]]]) -> int:
    store = store_from(args)
    rows = lister(parse(store.read(), str(store.path)))
    if args.json:
        print_json(rows)
        return 0
    for row in rows:
        details = "  ".join(f"{k}={','.join(v) if isinstance(v, list) else v}"
                            for k, v in row.items() if k != "name" and v not in ("", [], None))
        print(f"{row['name']}  {details}".rstrip())
    return 0


def _cmd(parent: argparse._SubParsersAction, name: str, help_: str, func: Callable[[argparse.Namespace], int],
         editing: bool = True) -> argparse.ArgumentParser:
    parser = parent.add_parser(name, help=help_)
    (add_edit_options if editing else add_config_option)(parser)
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.set_defaults(func=func)
    return parser


def _add_user(sub: argparse._SubParsersAction) -> None:
    users = sub.add_parser("user", help="registry users").add_subparsers(dest="action", metavar="ACTION",
                                                                        required=True)
    for action in ("add", "modify"):
        p = _cmd(users, action, f"{action} a user", _user_add if action == "add" else _user_modify)
        p.add_argument("name")
        p.add_argument("--dn", action="append", dest="dns", metavar="DN",
                       help="a certificate DN (repeat for several; modify: replaces the list)")
        p.add_argument("--id", action="append", dest="subjects", metavar="SUBJECT",
                       help="a subject at an identity provider (repeat for several; modify: replaces the list)")
        p.add_argument("--email")
        p.add_argument("--groups", type=csv, metavar="G1,G2", help="groups (modify: replaces the membership)")
        if action == "modify":
            p.add_argument("--add-groups", type=csv, default=[], metavar="G1,G2")
            p.add_argument("--remove-groups", type=csv, default=[], metavar="G1,G2")
    _cmd(users, "remove", "remove a user from the registry and every group", _user_remove).add_argument("name")
    _cmd(users, "list", "list users", lambda a: _list(a, edits.user_list), editing=False)


def _user_add(a: argparse.Namespace) -> int:
    _edit(a, lambda cfg: edits.user_add(cfg, a.name, a.dns or (), a.subjects or (), a.email,
                                        a.groups or ()), f"user add {a.name}")
    return 0


def _user_modify(a: argparse.Namespace) -> int:
    _edit(a, lambda cfg: edits.user_modify(cfg, a.name, a.dns, a.subjects, a.email, a.groups, a.add_groups,
                                           a.remove_groups), f"user modify {a.name}")
    return 0


def _user_remove(a: argparse.Namespace) -> int:
    _edit(a, lambda cfg: edits.user_remove(cfg, a.name), f"user remove {a.name}")
    return 0


def _add_group(sub: argparse._SubParsersAction) -> None:
    groups = sub.add_parser("group", help="groups").add_subparsers(dest="action", metavar="ACTION", required=True)
    for action in ("add", "modify"):
        p = _cmd(groups, action, f"{action} a group", _group_add if action == "add" else _group_modify)
        p.add_argument("name")
        p.add_argument("--vo", required=action == "add")
        p.add_argument("--properties", type=csv, metavar="P1,P2")
        p.add_argument("--users", type=csv, metavar="U1,U2", help="members (modify: replaces the list)")
        p.add_argument("--capabilities", type=csv, metavar="C1:/path,C2:/path",
                       help="WLCG capabilities the group's tokens may carry, e.g. storage.read:/dteam "
                            "(a path grants its sub-paths; modify: replaces the list)")
        if action == "modify":
            p.add_argument("--add-users", type=csv, default=[], metavar="U1,U2")
            p.add_argument("--remove-users", type=csv, default=[], metavar="U1,U2")
    _cmd(groups, "remove", "remove a group", _group_remove).add_argument("name")
    _cmd(groups, "list", "list groups", lambda a: _list(a, edits.group_list), editing=False)


def _group_add(a: argparse.Namespace) -> int:
    _edit(a, lambda cfg: edits.group_add(cfg, a.name, a.vo, a.properties or (), a.users or (),
                                                     a.capabilities or ()), f"group add {a.name}")
    return 0


def _group_modify(a: argparse.Namespace) -> int:
    _edit(a, lambda cfg: edits.group_modify(cfg, a.name, a.vo, a.properties, a.users, a.add_users,
                                            a.remove_users, a.capabilities), f"group modify {a.name}")
    return 0


def _group_remove(a: argparse.Namespace) -> int:
    _edit(a, lambda cfg: edits.group_remove(cfg, a.name), f"group remove {a.name}")
    return 0


def _add_vo(sub: argparse._SubParsersAction) -> None:
    vos = sub.add_parser("vo", help="virtual organisations").add_subparsers(dest="action", metavar="ACTION",
                                                                           required=True)
    for action in ("add", "modify"):
        p = _cmd(vos, action, f"{action} a VO", _vo_add if action == "add" else _vo_modify)
        p.add_argument("name")
        p.add_argument("--admins", type=csv, default=None if action == "modify" else [], metavar="U1,U2",
                       help="VOAdmin users")
        p.add_argument("--idp", help="identity provider of the VO (a /Resources/IdProviders name)")
        p.add_argument("--default-group", help="group a token gets when none is asked (a group of this VO)")
        p.add_argument("--wlcg-claims", choices=("yes", "no"),
                       help="whether the VO's access tokens follow the WLCG profile (default: the global WLCGClaims)")
    _cmd(vos, "remove", "remove a VO that has no groups left", _vo_remove).add_argument("name")
    _cmd(vos, "list", "list VOs", lambda a: _list(a, edits.vo_list), editing=False)


def _vo_add(a: argparse.Namespace) -> int:
    _edit(a, lambda cfg: edits.vo_add(cfg, a.name, a.admins, a.idp, a.default_group, a.wlcg_claims), f"vo add {a.name}")
    return 0


def _vo_modify(a: argparse.Namespace) -> int:
    _edit(a, lambda cfg: edits.vo_modify(cfg, a.name, a.admins, a.idp, a.default_group, a.wlcg_claims),
          f"vo modify {a.name}")
    return 0


def _vo_remove(a: argparse.Namespace) -> int:
    _edit(a, lambda cfg: edits.vo_remove(cfg, a.name), f"vo remove {a.name}")
    return 0


def _add_client(sub: argparse._SubParsersAction) -> None:
    clients = sub.add_parser("client", help="OAuth clients").add_subparsers(dest="action", metavar="ACTION",
                                                                           required=True)
    for action in ("add", "modify"):
        p = _cmd(clients, action, f"{action} a client", _client_add if action == "add" else _client_modify)
        p.add_argument("name")
        p.add_argument("--grant-types", type=csv, metavar="T1,T2")
        p.add_argument("--post-logout-redirect-uri", action="append", dest="post_logout_redirect_uris",
                       metavar="URI", help="where /logout may send the browser back (repeat for several; "
                                           "modify: replaces the list)")
        p.add_argument("--redirect-uri", action="append", dest="redirect_uris", metavar="URI",
                       help="a redirect URI (repeat for several; modify: replaces the list)")
        p.add_argument("--scope", help="scopes the client may ask for (space or comma separated)")
        if action == "add":
            p.add_argument("--public", action="store_true", help="a public client (no secret; PKCE required)")
            p.add_argument("--client-id", help="client_id (default: NAME)")
        else:
            p.add_argument("--new-secret", action="store_true", help="issue a new secret (printed once)")
    _cmd(clients, "remove", "remove a client", _client_remove).add_argument("name")
    _cmd(clients, "list", "list clients (secrets are never shown)", lambda a: _list(a, edits.client_list),
         editing=False)


def _print_credentials(a: argparse.Namespace, creds: dict[str, str] | None) -> None:
    if not creds:
        return
    if a.json:
        print_json(creds)
        return
    print(f"client_id: {creds['client_id']}")
    if "client_secret" in creds:
        print(f"client_secret: {creds['client_secret']}")
        print("(the secret is shown only this once: only its salted hash is stored)", file=sys.stderr)


def _client_add(a: argparse.Namespace) -> int:
    creds = _edit(a, lambda cfg: edits.client_add(cfg, a.name, a.public, a.grant_types or (),
                                                  a.redirect_uris or (), a.scope, a.client_id,
                                                  a.post_logout_redirect_uris or ()),
                  f"client add {a.name}")
    _print_credentials(a, creds)
    return 0


def _client_modify(a: argparse.Namespace) -> int:
    creds = _edit(a, lambda cfg: edits.client_modify(cfg, a.name, a.grant_types, a.redirect_uris, a.scope,
                                                     a.new_secret, a.post_logout_redirect_uris),
                  f"client modify {a.name}")
    _print_credentials(a, creds if a.new_secret else None)
    return 0


def _client_remove(a: argparse.Namespace) -> int:
    _edit(a, lambda cfg: edits.client_remove(cfg, a.name), f"client remove {a.name}")
    return 0


def _add_passwd(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("passwd", help="set a local-account password (read from standard input unless a terminal)")
    add_config_option(p)
    add_db_option(p)
    p.add_argument("name", help="registry user name")
    p.set_defaults(func=_passwd)


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("New password: ")
        if getpass.getpass("Again: ") != first:
            raise EditError("the two passwords differ; nothing changed")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _passwd(a: argparse.Namespace) -> int:
    registry = store_from(a).load()
    if registry.user(a.name) is None:
        raise EditError(f"unknown user {a.name!r} (add it first with gridauth admin user add)")
    from ..db import schema  # the database layer only for this command: others start faster
    from ..db.accounts import AccountStore
    from ..db.engine import Database

    # The database first: a password typed for a database that cannot take it is a password lost.
    db = Database(database_url(a.db), workers=1, create=False)
    try:
        schema.check(db)
        password = _read_password()
        if len(password) < MIN_PASSWORD:
            raise EditError(f"the password must have at least {MIN_PASSWORD} characters; nothing changed")
        ended = AccountStore(db).set_password(a.name, password, Clock().now())
    finally:
        db.close()
    print(f"password set for {a.name} in {db.safe_url}; {ended} SSO session{'' if ended == 1 else 's'} ended",
          file=sys.stderr)
    return 0


def _add_token_preview(sub: argparse._SubParsersAction) -> None:
    p = _cmd(sub, "token-preview", "dry run: the token a user in a group would get for a scope (nothing is issued)",
             _token_preview, editing=False)
    p.add_argument("--user", required=True, help="registry user name")
    p.add_argument("--group", help="the group the token acts in (default: the user's default group)")
    p.add_argument("--scope", default="", help="the scope a client would ask, e.g. 'openid storage.read:/dteam'")
    p.add_argument("--client", help="the client_id asking (default: any client, no client scope list)")


def _token_preview(a: argparse.Namespace) -> int:
    from ..oauth.preview import token_preview  # the OAuth layer only for this command: others start faster

    registry = store_from(a).load()
    answer = token_preview(registry, a.user, a.group, a.scope, a.client, Clock().now())
    if a.json:
        print_json(answer)
        return 0
    print(f"scope: {answer['scope']}")
    if answer["refused"]:
        print(f"left out: {' '.join(answer['refused'])}")
    print(f"expires_in: {answer['expires_in']}")
    print_json(answer["claims"])
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``gridauth admin`` and its subcommands."""
    admin = sub.add_parser("admin", help="manage users, groups, VOs and clients")
    kinds = admin.add_subparsers(dest="kind", metavar="KIND", required=True)
    _add_user(kinds)
    _add_group(kinds)
    _add_vo(kinds)
    _add_client(kinds)
    _add_passwd(kinds)
    _add_token_preview(kinds)
