"""``gridauth admin``: everyday registry edits (users, groups, VOs, clients), each validated and recorded."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import getpass
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .. import audit
from ..admin.actions import ConfigAdmin, check_password, local_administrator
from ..admin.operations import Step
from ..client.admin import chosen_server
from ..client.discovery import normalize
from ..client.store import save_admin_server
from ..clock import Clock
from ..config.paths import database_url
from ..errors import EditError, SchemaMismatch
from .backend import RemoteBackend, backend, remote_server
from .common import (
    add_config_option,
    add_db_option,
    add_edit_options,
    add_server_options,
    csv,
    open_database,
    print_json,
    store_from,
)

if TYPE_CHECKING:
    from ..db.engine import Database


def _edit(args: argparse.Namespace, op: str, values: dict[str, Any]) -> Any:
    """Run operation *op* (``user.add``...) where the command acts; report its version; return what it returned."""
    step = Step.of(op, values)
    what = step.describe().removeprefix("admin ")
    version, results = backend(args).edit([step], args.comment, args.base_version)
    if version is not None:
        print(f"{what}: written as version {version}", file=sys.stderr)
    value = results[0] if results else None
    if args.json and value is None:  # what changed, for scripts (client commands print their credentials)
        print_json({"name": args.name, "action": what, "version": version})
    return value


def _remover(kind: str) -> Callable[[argparse.Namespace], int]:
    """The ``KIND remove NAME`` command of *kind*."""
    def remove(a: argparse.Namespace) -> int:
        _edit(a, f"{kind}.remove", {"name": a.name})
        return 0
    return remove


def _format(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(value)
    if isinstance(value, dict):
        return ",".join(f"{k}:{v}" for k, v in value.items())
    return str(value)


def _list(args: argparse.Namespace, kind: str, extra: list[dict[str, Any]] | None = None) -> int:
    rows = backend(args).rows(kind) + (extra or [])
    if args.json:
        print_json(rows)
        return 0
    for row in rows:
        details = "  ".join(f"{k}={_format(v)}" for k, v in row.items() if k != "name" and v not in ("", [], {}, None))
        print(f"{row['name']}  {details}".rstrip())
    return 0


def _cmd(parent: argparse._SubParsersAction, name: str, help_: str, func: Callable[[argparse.Namespace], int],
         editing: bool = True) -> argparse.ArgumentParser:
    parser = parent.add_parser(name, help=help_)
    if editing:
        add_edit_options(parser)
    else:
        add_config_option(parser, store=True)
    add_server_options(parser)
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
    _cmd(users, "remove", "remove a user from the registry and every group", _remover("user")).add_argument("name")
    _cmd(users, "suspend", "suspend a user: no sign-in, token or refresh until lifted (nothing is revoked)",
         lambda a: _user_suspend(a, True)).add_argument("name")
    _cmd(users, "unsuspend", "lift a user's suspension: their sessions work again",
         lambda a: _user_suspend(a, False)).add_argument("name")
    _cmd(users, "list", "list users", lambda a: _list(a, "user"), editing=False)


def _user_add(a: argparse.Namespace) -> int:
    _edit(a, "user.add", {"name": a.name, "dns": a.dns, "subjects": a.subjects, "email": a.email,
                          "groups": a.groups})
    return 0


def _user_modify(a: argparse.Namespace) -> int:
    _edit(a, "user.modify", {"name": a.name, "dns": a.dns, "subjects": a.subjects, "email": a.email,
                             "groups": a.groups, "add_groups": a.add_groups, "remove_groups": a.remove_groups})
    return 0


def _user_suspend(a: argparse.Namespace, suspended: bool) -> int:
    action = "suspend" if suspended else "unsuspend"
    _edit(a, f"user.{action}", {"name": a.name})
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
    _cmd(groups, "remove", "remove a group", _remover("group")).add_argument("name")
    _cmd(groups, "list", "list groups", lambda a: _list(a, "group"), editing=False)


def _group_add(a: argparse.Namespace) -> int:
    _edit(a, "group.add", {"name": a.name, "vo": a.vo, "properties": a.properties, "users": a.users,
                           "capabilities": a.capabilities})
    return 0


def _group_modify(a: argparse.Namespace) -> int:
    _edit(a, "group.modify", {"name": a.name, "vo": a.vo, "properties": a.properties, "users": a.users,
                              "add_users": a.add_users, "remove_users": a.remove_users, "capabilities": a.capabilities})
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
    _cmd(vos, "remove", "remove a VO that has no groups left", _remover("vo")).add_argument("name")
    _cmd(vos, "list", "list VOs", lambda a: _list(a, "vo"), editing=False)


def _vo_add(a: argparse.Namespace) -> int:
    _edit(a, "vo.add", {"name": a.name, "admins": a.admins, "idp": a.idp, "default_group": a.default_group,
                        "wlcg_claims": a.wlcg_claims})
    return 0


def _vo_modify(a: argparse.Namespace) -> int:
    _edit(a, "vo.modify", {"name": a.name, "admins": a.admins, "idp": a.idp, "default_group": a.default_group,
                           "wlcg_claims": a.wlcg_claims})
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
    _cmd(clients, "remove", "remove a client", _remover("client")).add_argument("name")
    _cmd(clients, "list", "list clients, the registered ones (RFC 7591) too (secrets are never shown)",
         _client_list, editing=False)  # --db (from the store options) also names the registered clients
    _add_registered(clients)


def _client_list(a: argparse.Namespace) -> int:
    """The CFG's clients, then (on this host's database) the registered ones."""
    extra = [] if remote_server(a) is not None else _registered_list(a)
    return _list(a, "client", extra)


@contextlib.contextmanager
def _database(a: argparse.Namespace) -> Iterator[Database]:
    """The database of ``--db`` at the code's revision (``open_database``), closed at the end."""
    db = open_database(a)
    try:
        yield db
    finally:
        db.close()


def _registered_list(a: argparse.Namespace) -> list[dict[str, Any]]:
    """The registered clients for ``client list``: none from a database that does not exist yet (nothing was
    ever registered there), a note on stderr when the database cannot be read as this gridauth's."""
    from ..db import schema
    from ..db.engine import Database
    from ..db.registered import RegisteredClientStore

    try:
        db = Database(database_url(a.db), workers=1, create=False)
    except SchemaMismatch:  # no database file
        return []
    try:
        if schema.status(db).state == "empty":
            return []
        schema.check(db)
        found = RegisteredClientStore(db).all()
    except SchemaMismatch as error:
        print(f"registered clients not listed: {error}", file=sys.stderr)
        return []
    finally:
        db.close()
    return [{"name": c.metadata.get("client_name") or c.client_id, "client_id": c.client_id,
             "public": c.client_secret_hash is None, "grant_types": list(c.metadata.get("grant_types", ())),
             "redirect_uris": list(c.metadata.get("redirect_uris", ())), "scope": c.metadata.get("scope", ""),
             "registered": True, "owner": c.owner, "groups": list(c.groups) if c.groups is not None else None,
             "expires_at": c.expires_at} for c in found]


def _add_registered(clients: argparse._SubParsersAction) -> None:
    registered = clients.add_parser("registered", help="clients registered at /register (RFC 7591), in the "
                                    "database").add_subparsers(dest="registered_action", metavar="ACTION",
                                                               required=True)
    groups = registered.add_parser("groups", help="let any member of these groups use the client (default: "
                                   "its owner only)")
    remove = registered.add_parser("remove", help="delete a registered client (its tokens stop refreshing)")
    for parser, func in ((groups, _registered_groups), (remove, _registered_remove)):
        add_config_option(parser)
        add_db_option(parser)
        parser.add_argument("client_id")
        parser.set_defaults(func=func)
    chosen = groups.add_mutually_exclusive_group(required=True)
    chosen.add_argument("--groups", type=csv, metavar="G1,G2", help="registry groups whose members may use it")
    chosen.add_argument("--owner-only", action="store_true", help="back to its owner's groups, for its owner")


def _registered_groups(a: argparse.Namespace) -> int:
    from ..db.registered import RegisteredClientStore

    groups = None if a.owner_only else tuple(a.groups)
    registry = store_from(a).load()
    unknown = [g for g in groups or () if registry.group(g) is None]
    if unknown or groups == ():
        raise EditError(f"unknown group(s): {', '.join(unknown)}" if unknown else "name at least one group")
    with _database(a) as db:
        if not RegisteredClientStore(db).set_groups(a.client_id, groups):
            raise EditError(f"no registered client {a.client_id!r} in {db.safe_url}")
    shown = ", ".join(groups) if groups else "its owner only"
    audit.record("client_groups_changed", client=a.client_id, reason=f"may be used by: {shown}", kind="admin")
    print(f"registered client {a.client_id}: may be used by {shown} (running servers see it within 10 seconds)",
          file=sys.stderr)
    return 0


def _registered_remove(a: argparse.Namespace) -> int:
    from ..db.registered import RegisteredClientStore

    with _database(a) as db:
        if not RegisteredClientStore(db).remove(a.client_id):
            raise EditError(f"no registered client {a.client_id!r} in {db.safe_url}")
    audit.record("client_deleted", client=a.client_id, kind="admin")
    print(f"registered client {a.client_id} removed", file=sys.stderr)
    return 0


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
    creds = _edit(a, "client.add", {"name": a.name, "public": a.public, "grant_types": a.grant_types,
                                    "redirect_uris": a.redirect_uris, "scope": a.scope, "client_id": a.client_id,
                                    "post_logout_redirect_uris": a.post_logout_redirect_uris})
    _print_credentials(a, creds)
    return 0


def _client_modify(a: argparse.Namespace) -> int:
    creds = _edit(a, "client.modify", {"name": a.name, "grant_types": a.grant_types,
                                       "redirect_uris": a.redirect_uris, "scope": a.scope, "new_secret": a.new_secret,
                                       "post_logout_redirect_uris": a.post_logout_redirect_uris})
    _print_credentials(a, creds if a.new_secret else None)
    return 0



def _add_idp(sub: argparse._SubParsersAction) -> None:
    idps = sub.add_parser("idp", help="identity providers").add_subparsers(dest="action", metavar="ACTION",
                                                                          required=True)
    for action in ("add", "modify"):
        p = _cmd(idps, action, f"{action} an identity provider (all its options in one edit)",
                 _idp_add if action == "add" else _idp_modify)
        p.add_argument("name")
        p.add_argument("--type", dest="provider_type", required=action == "add",
                       help="ProviderType: Local, OIDC, OAuth2, CheckIn or IAM")
        p.add_argument("--issuer", help="the provider's issuer URL (OpenID providers)")
        p.add_argument("--client-id", help="the client id gridauth is registered with at the provider")
        p.add_argument("--client-secret", metavar="SECRET",
                       help="that client's secret; '-' reads it from standard input (kept out of the process list)")
        p.add_argument("--scope", type=csv, metavar="S1,S2", help="scopes asked of the provider")
        p.add_argument("--option", action="append", dest="options", default=[], metavar="NAME=VALUE",
                       help="any other option of the provider's section (repeat for several)")
        if action == "modify":
            p.add_argument("--remove-option", action="append", dest="remove_options", default=[], metavar="NAME",
                           help="delete an option of the provider's section (repeat for several)")
    _cmd(idps, "remove", "remove an identity provider no VO names", _remover("idp")).add_argument("name")
    _cmd(idps, "list", "list identity providers (client secrets are never shown)", lambda a: _list(a, "idp"),
         editing=False)


def _idp_values(a: argparse.Namespace) -> dict[str, Any]:
    options = {}
    for item in a.options:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise EditError(f"--option {item!r}: expected NAME=VALUE")
        options[name.strip()] = value.strip()
    secret = a.client_secret
    if secret == "-":
        secret = sys.stdin.readline().rstrip("\r\n")
    return {"name": a.name, "provider_type": a.provider_type, "issuer": a.issuer, "client_id": a.client_id,
            "client_secret": secret, "scope": a.scope, "options": options or None}


def _idp_add(a: argparse.Namespace) -> int:
    _edit(a, "idp.add", _idp_values(a))
    return 0


def _idp_modify(a: argparse.Namespace) -> int:
    _edit(a, "idp.modify", {**_idp_values(a), "remove_options": a.remove_options or None})
    return 0



def _add_server(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("server", help="remember the server whose admin API 'gridauth admin' and 'gridauth config' "
                                      "use (without URL: show it)")
    p.add_argument("url", nargs="?", metavar="URL", help="the server (its issuer URL)")
    p.add_argument("--clear", action="store_true", help="forget it: edit the local file again")
    p.set_defaults(func=_server)


def _server(a: argparse.Namespace) -> int:
    if a.clear:
        save_admin_server(None)
        print("admin server forgotten: gridauth admin and gridauth config edit the local file", file=sys.stderr)
    elif a.url:
        url = normalize(a.url)
        save_admin_server(url)
        print(f"admin server: {url} (with the token of 'gridauth login --issuer {url}')", file=sys.stderr)
    else:
        print(chosen_server(None) or "none: gridauth admin and gridauth config edit the local file")
    return 0


def _add_passwd(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("passwd", help="set a local-account password (read from standard input unless a terminal)")
    add_config_option(p, store=True)
    add_server_options(p)
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
    server = remote_server(a)
    if server is not None:  # the server's database, through its admin API
        set_ = RemoteBackend(server).set_password(a.name, _read_password)
        print(f"password set for {a.name} at {server}; {set_} SSO session{'' if set_ == 1 else 's'} ended",
              file=sys.stderr)
        return 0
    actions = ConfigAdmin(store_from(a))
    actions.may_set_password(local_administrator(), a.name)
    from ..db.accounts import AccountStore

    # The database first: a password typed for a database that cannot take it is a password lost.
    with _database(a) as db:
        password = check_password(_read_password())
        ended = AccountStore(db).set_password(a.name, password, Clock().now())
    print(f"password set for {a.name} in {db.safe_url}; {ended} SSO session{'' if ended == 1 else 's'} ended",
          file=sys.stderr)
    return 0


SELECTORS = (("--user", "user", "U", "the registry user"), ("--client", "client", "C", "the client_id"),
             ("--vo", "vo", "V", "the VO"), ("--group", "group", "G", "the group"),
             ("--idp", "idp", "I", "the identity provider signed in with (local: a local account)"))


def _add_sessions(sub: argparse._SubParsersAction) -> None:
    sessions = sub.add_parser("sessions", help="grants and SSO sessions: list and revoke (incident control)")
    actions = sessions.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="live grants and SSO sessions matching every option given")
    revoking = actions.add_parser("revoke", help="revoke the grants (with their access tokens) and SSO sessions "
                                                 "of ONE selector; prints how many were ended")
    for parser in (listing, revoking):
        add_db_option(parser)
        add_server_options(parser)
        for flag, dest, metavar, help_ in SELECTORS:
            if parser is listing or dest != "group":
                parser.add_argument(flag, dest=dest, metavar=metavar, help=help_)
    listing.add_argument("--json", action="store_true", help="print JSON for scripts (times in epoch seconds)")
    listing.set_defaults(func=_sessions_list)
    revoking.add_argument("--grant", metavar="ID", help="one grant, by the id the listing shows")
    revoking.add_argument("--issued-before", metavar="TIME",
                          help="every session issued before TIME (ISO 8601, e.g. 2026-12-02T15:00:00Z; no offset: UTC)")
    revoking.add_argument("--author", help="who revokes (default: $GRIDAUTH_AUTHOR, else your login)")
    revoking.set_defaults(func=_sessions_revoke)


def _sessions_list(a: argparse.Namespace) -> int:
    from ..db.sessions import Selector
    from ..oauth.sessions import shown_time

    rows = backend(a).sessions(Selector(user=a.user, client=a.client, vo=a.vo, group=a.group, idp=a.idp))
    if a.json:
        print_json([dataclasses.asdict(row) for row in rows])
        return 0
    for row in rows:
        print(f"{row.kind} {row.id}  user={row.user} client={row.client or '-'} vo={row.vo or '-'} "
              f"group={row.group or '-'} idp={row.idp or '-'} issued={shown_time(row.issued_at)} "
              f"expires={shown_time(row.expires_at)} last_used={shown_time(row.last_used_at)} "
              f"address={row.address or '-'}")
    return 0


def _sessions_revoke(a: argparse.Namespace) -> int:
    from ..db.sessions import Selector
    from ..oauth.sessions import REVOKE_BY, one_revocation, parse_time

    one_revocation((f for f in REVOKE_BY if getattr(a, f) is not None), lambda f: "--" + f.replace("_", "-"))
    before = parse_time(a.issued_before) if a.issued_before is not None else None
    selector = Selector(grant=a.grant, user=a.user, client=a.client, vo=a.vo, idp=a.idp, issued_before=before)
    count, where = backend(a).revoke_sessions(selector)
    print(count)
    print(f"revoked {count} session{'' if count == 1 else 's'} {where}", file=sys.stderr)
    return 0


def _add_token_preview(sub: argparse._SubParsersAction) -> None:
    p = _cmd(sub, "token-preview", "dry run: the token a user in a group would get for a scope (nothing is issued)",
             _token_preview, editing=False)
    p.add_argument("--user", required=True, help="registry user name")
    p.add_argument("--group", help="the group the token acts in (default: the user's default group)")
    p.add_argument("--scope", default="", help="the scope a client would ask, e.g. 'openid storage.read:/dteam'")
    p.add_argument("--client", help="the client_id asking (default: any client, no client scope list)")


def _token_preview(a: argparse.Namespace) -> int:
    answer = backend(a).token_preview(a.user, a.group, a.scope, a.client)
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
    admin = sub.add_parser("admin", help="manage users, groups, VOs, clients and identity providers")
    add_server_options(admin)
    kinds = admin.add_subparsers(dest="kind", metavar="KIND", required=True)
    _add_user(kinds)
    _add_group(kinds)
    _add_vo(kinds)
    _add_client(kinds)
    _add_idp(kinds)
    _add_passwd(kinds)
    _add_sessions(kinds)
    _add_server(kinds)
    _add_token_preview(kinds)
