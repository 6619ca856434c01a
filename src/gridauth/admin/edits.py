"""Registry edits on a parsed CFG, one function per administrator command."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from diraccfg import CFG

from ..config.builder import AUTHZ
from ..config.cfgfile import as_list, delete, ensure_section, lookup, set_option
from ..errors import EditError, UnknownName
from ..hashing import hash_client_secret, new_client_secret

USERS = "/Registry/Users"
GROUPS = "/Registry/Groups"
VOS = "/Registry/VO"
CLIENTS = f"{AUTHZ}/Clients"
IDPS = "/Resources/IdProviders"

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")
KINDS = {"user": USERS, "group": GROUPS, "vo": VOS, "client": CLIENTS, "identity provider": IDPS}


def _join(values: Iterable[str]) -> str:
    return ", ".join(values)


def _option(section: CFG, option: str, default: str = "") -> str:
    """Option text or *default*: diraccfg's ``getOption`` overloads do not cover a string default."""
    value = section.getOption(option)
    return default if value is None else value


def _sub(parent: CFG, name: str) -> CFG:
    """Sub-section *name* of *parent*, or an empty one where *name* is an option and not a section."""
    node = parent[name]
    return node if isinstance(node, CFG) else CFG()


def _entries(cfg: CFG, base: str) -> CFG:
    node = lookup(cfg, base)
    return node if isinstance(node, CFG) else CFG()


def _require(cfg: CFG, kind: str, name: str) -> CFG:
    node = lookup(cfg, f"{KINDS[kind]}/{name}") if name and "/" not in name else None
    if not isinstance(node, CFG):
        raise UnknownName(f"unknown {kind} {name!r}")
    return node


def _require_absent(cfg: CFG, kind: str, name: str) -> None:
    if not NAME.fullmatch(name):
        raise EditError(f"invalid {kind} name {name!r} (letters, digits and . _ @ + - only)")
    if lookup(cfg, f"{KINDS[kind]}/{name}") is not None:
        raise EditError(f"{kind} {name!r} already exists")


def _remove(cfg: CFG, kind: str, name: str) -> None:
    """Delete the section of *kind* *name*, which must exist."""
    _require(cfg, kind, name)
    delete(cfg, f"{KINDS[kind]}/{name}")


def _set_many(cfg: CFG, base: str, values: dict[str, str | None]) -> None:
    for option, value in values.items():
        if value is not None:
            set_option(cfg, f"{base}/{option}", value)


def _members(section: CFG) -> list[str]:
    return as_list(_option(section, "Users"))


def _set_members(cfg: CFG, group: str, members: Sequence[str]) -> None:
    set_option(cfg, f"{GROUPS}/{group}/Users", _join(dict.fromkeys(members)))


def _groups_containing(cfg: CFG, user: str) -> list[str]:
    groups = _entries(cfg, GROUPS)
    return [g for g in groups.listSections() if user in _members(_sub(groups, g))]


def _check_names(cfg: CFG, kind: str, names: Iterable[str]) -> None:
    for name in names:
        _require(cfg, kind, name)


# -- users ---------------------------------------------------------------------------------------
def _values(values: Sequence[str] | None) -> str | None:
    """A list option's text (repeats kept once, in order), or None to leave the option as it is."""
    return None if values is None else _join(dict.fromkeys(values))


def user_add(cfg: CFG, name: str, dns: Sequence[str] = (), subjects: Sequence[str] = (),
             email: str | None = None, groups: Sequence[str] = ()) -> None:
    """Register user *name* (with any number of DNs and provider subjects) and put them in *groups*."""
    _require_absent(cfg, "user", name)
    _check_names(cfg, "group", groups)
    ensure_section(cfg, [*USERS.strip("/").split("/"), name])
    _set_many(cfg, f"{USERS}/{name}", {"DN": _values(dns or None), "ID": _values(subjects or None), "Email": email})
    for group in groups:
        _set_members(cfg, group, [*_members(_require(cfg, "group", group)), name])


def user_modify(cfg: CFG, name: str, dns: Sequence[str] | None = None, subjects: Sequence[str] | None = None,
                email: str | None = None, groups: Sequence[str] | None = None,
                add_groups: Sequence[str] = (), remove_groups: Sequence[str] = ()) -> None:
    """Change a user's DNs, subjects, e-mail or group membership (``dns``, ``subjects``, ``groups`` replace)."""
    _require(cfg, "user", name)
    _set_many(cfg, f"{USERS}/{name}", {"DN": _values(dns), "ID": _values(subjects), "Email": email})
    current = set(_groups_containing(cfg, name))
    wanted = set(groups) if groups is not None else set(current)
    wanted = (wanted | set(add_groups)) - set(remove_groups)
    _check_names(cfg, "group", wanted | set(remove_groups))
    for group in sorted(wanted - current):
        _set_members(cfg, group, [*_members(_require(cfg, "group", group)), name])
    for group in sorted(current - wanted):
        _set_members(cfg, group, [u for u in _members(_require(cfg, "group", group)) if u != name])


def user_remove(cfg: CFG, name: str) -> None:
    """Delete user *name* and take them out of every group."""
    user_modify(cfg, name, groups=[])
    delete(cfg, f"{USERS}/{name}")


def user_suspend(cfg: CFG, name: str, suspended: bool) -> None:
    """Suspend user *name* (``Suspended = yes``) or lift the suspension (the option goes).

    A suspension revokes nothing: it refuses the user's sign-ins, tokens and refreshes while it
    lasts, so that lifting it gives the user back every session they had (an incident's first step,
    taken before anyone knows whether the account was really compromised).
    """
    section = _require(cfg, "user", name)
    if suspended:
        set_option(cfg, f"{USERS}/{name}/Suspended", "yes")
    elif section.getOption("Suspended") is not None:
        delete(cfg, f"{USERS}/{name}/Suspended")


def user_list(cfg: CFG) -> list[dict[str, Any]]:
    """Users as dicts for listing: name, DN, ID, Email, groups, and ``suspended`` (``yes`` or empty)."""
    users = _entries(cfg, USERS)
    return [{"name": name, "dn": _option(_sub(users, name), "DN"), "id": _option(_sub(users, name), "ID"),
             "email": _option(_sub(users, name), "Email"), "groups": _groups_containing(cfg, name),
             "suspended": "yes" if _option(_sub(users, name), "Suspended").lower() in ("yes", "true") else ""}
            for name in users.listSections()]


# -- groups --------------------------------------------------------------------------------------
def group_add(cfg: CFG, name: str, vo: str, properties: Sequence[str] = (), users: Sequence[str] = (),
              capabilities: Sequence[str] = ()) -> None:
    """Create group *name* in *vo* with *properties*, members *users* and WLCG *capabilities* (checked by the store)."""
    _require_absent(cfg, "group", name)
    _require(cfg, "vo", vo)
    _check_names(cfg, "user", users)
    ensure_section(cfg, [*GROUPS.strip("/").split("/"), name])
    _set_many(cfg, f"{GROUPS}/{name}", {"Users": _join(users), "VO": vo, "Properties": _join(properties),
                                         "Capabilities": _join(capabilities) if capabilities else None})


def group_modify(cfg: CFG, name: str, vo: str | None = None, properties: Sequence[str] | None = None,
                 users: Sequence[str] | None = None, add_users: Sequence[str] = (),
                 remove_users: Sequence[str] = (), capabilities: Sequence[str] | None = None) -> None:
    """Change a group's VO, properties, members (``users`` replaces the member list) or capabilities (replaced)."""
    section = _require(cfg, "group", name)
    if vo is not None:
        _require(cfg, "vo", vo)
    members = list(users) if users is not None else _members(section)
    members = [u for u in [*members, *add_users] if u not in set(remove_users)]
    _check_names(cfg, "user", [*members, *remove_users])
    _set_many(cfg, f"{GROUPS}/{name}", {"VO": vo, "Properties": None if properties is None else _join(properties),
                                         "Capabilities": None if capabilities is None else _join(capabilities)})
    _set_members(cfg, name, members)


def group_remove(cfg: CFG, name: str) -> None:
    """Delete group *name* (a VO or the registry still naming it as default makes validation refuse)."""
    _remove(cfg, "group", name)


def group_list(cfg: CFG) -> list[dict[str, Any]]:
    """Groups as dicts: name, VO, properties, users, capabilities."""
    groups = _entries(cfg, GROUPS)
    return [{"name": name, "vo": _option(_sub(groups, name), "VO"),
             "properties": as_list(_option(_sub(groups, name), "Properties")), "users": _members(_sub(groups, name)),
             "capabilities": as_list(_option(_sub(groups, name), "Capabilities"))}
            for name in groups.listSections()]


# -- VOs -----------------------------------------------------------------------------------------
def vo_add(cfg: CFG, name: str, admins: Sequence[str] = (), idp: str | None = None,
           default_group: str | None = None, wlcg_claims: str | None = None) -> None:
    """Create VO *name*."""
    _require_absent(cfg, "vo", name)
    _check_names(cfg, "user", admins)
    ensure_section(cfg, [*VOS.strip("/").split("/"), name])
    _set_many(cfg, f"{VOS}/{name}", {"VOMSName": name, "VOAdmin": _join(admins) if admins else None,
                                      "IdProvider": idp, "DefaultGroup": default_group, "WLCGClaims": wlcg_claims})


def vo_modify(cfg: CFG, name: str, admins: Sequence[str] | None = None, idp: str | None = None,
              default_group: str | None = None, wlcg_claims: str | None = None) -> None:
    """Change a VO's administrators, identity provider, default group or ``WLCGClaims`` (yes, no)."""
    _require(cfg, "vo", name)
    if admins is not None:
        _check_names(cfg, "user", admins)
    _set_many(cfg, f"{VOS}/{name}", {"VOAdmin": _join(admins) if admins is not None else None,
                                      "IdProvider": idp, "DefaultGroup": default_group, "WLCGClaims": wlcg_claims})


def vo_remove(cfg: CFG, name: str) -> None:
    """Delete VO *name*; refused while groups still belong to it."""
    _require(cfg, "vo", name)
    still = [g["name"] for g in group_list(cfg) if g["vo"] == name]
    if still:
        raise EditError(f"VO {name!r} still has groups: {', '.join(still)} (remove or move them first)")
    delete(cfg, f"{VOS}/{name}")


def vo_list(cfg: CFG) -> list[dict[str, Any]]:
    """VOs as dicts: name, admins, identity provider, default group, groups."""
    vos = _entries(cfg, VOS)
    groups = group_list(cfg)
    return [{"name": name, "admins": as_list(_option(_sub(vos, name), "VOAdmin")),
             "idp": _option(_sub(vos, name), "IdProvider"), "default_group": _option(_sub(vos, name), "DefaultGroup"),
             "wlcg_claims": _option(_sub(vos, name), "WLCGClaims"),
             "groups": [g["name"] for g in groups if g["vo"] == name]}
            for name in vos.listSections()]


# -- clients -------------------------------------------------------------------------------------
def client_add(cfg: CFG, name: str, public: bool = False, grant_types: Sequence[str] = (),
               redirect_uris: Sequence[str] = (), scope: str | None = None,
               client_id: str | None = None, post_logout_redirect_uris: Sequence[str] = ()) -> dict[str, str]:
    """Register OAuth client *name*; return its client_id and, for a confidential client, the new secret."""
    _require_absent(cfg, "client", name)
    base = f"{CLIENTS}/{name}"
    ensure_section(cfg, [*CLIENTS.strip("/").split("/"), name])
    grants = list(grant_types) or (["authorization_code", "refresh_token"] if redirect_uris
                                   else ["client_credentials"] if not public
                                   else ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"])
    result = {"client_id": client_id or name}
    values: dict[str, str | None] = {
        "client_id": result["client_id"],
        "token_endpoint_auth_method": "none" if public else "client_secret_basic",
        "grant_types": _join(grants),
        "response_types": "code" if "authorization_code" in grants else None,
        "redirect_uris": _join(redirect_uris) if redirect_uris else None,
        "post_logout_redirect_uris": _join(post_logout_redirect_uris) if post_logout_redirect_uris else None,
        "scope": _join(scope.replace(",", " ").split()) if scope else None,
    }
    if not public:
        result["client_secret"] = new_client_secret()
        values["client_secret"] = hash_client_secret(result["client_secret"])
    _set_many(cfg, base, values)
    return result


def client_modify(cfg: CFG, name: str, grant_types: Sequence[str] | None = None,
                  redirect_uris: Sequence[str] | None = None, scope: str | None = None,
                  new_secret: bool = False, post_logout_redirect_uris: Sequence[str] | None = None) -> dict[str, str]:
    """Change a client's grants, redirect URIs or scope; with *new_secret*, issue and return a new secret."""
    section = _require(cfg, "client", name)
    base = f"{CLIENTS}/{name}"
    result = {"client_id": _option(section, "client_id", name)}
    values: dict[str, str | None] = {
        "grant_types": _join(grant_types) if grant_types is not None else None,
        "redirect_uris": _join(redirect_uris) if redirect_uris is not None else None,
        "post_logout_redirect_uris": (_join(post_logout_redirect_uris) if post_logout_redirect_uris is not None
                                      else None),
        "scope": _join(scope.replace(",", " ").split()) if scope is not None else None,
    }
    if new_secret:
        if _option(section, "token_endpoint_auth_method") == "none":
            raise EditError(f"client {name!r} is public: it has no secret")
        result["client_secret"] = new_client_secret()
        values["client_secret"] = hash_client_secret(result["client_secret"])
    _set_many(cfg, base, values)
    return result


def client_remove(cfg: CFG, name: str) -> None:
    """Delete client *name*."""
    _remove(cfg, "client", name)


def client_list(cfg: CFG) -> list[dict[str, Any]]:
    """Clients as dicts (never the secret hash): name, client_id, public, grants, redirect URIs, scope."""
    clients = _entries(cfg, CLIENTS)
    out = []
    for name in clients.listSections():
        sec = _sub(clients, name)
        method = _option(sec, "token_endpoint_auth_method", "client_secret_basic"
                         if _option(sec, "client_secret") else "none")
        out.append({"name": name, "client_id": _option(sec, "client_id", name), "public": method == "none",
                    "token_endpoint_auth_method": method,
                    "grant_types": as_list(_option(sec, "grant_types")),
                    "redirect_uris": as_list(_option(sec, "redirect_uris")),
                    "post_logout_redirect_uris": as_list(_option(sec, "post_logout_redirect_uris")),
                    "scope": as_list(_option(sec, "scope"))})
    return out


# -- identity providers --------------------------------------------------------------------------
# The options of /Resources/IdProviders/<name> that have a name of their own in the commands, the API and
# the console; any other option (a claim-mapping setting of a later version) goes through ``options``.
IDP_OPTIONS = {"provider_type": "ProviderType", "issuer": "issuer", "client_id": "client_id",
               "client_secret": "client_secret", "scope": "scope"}


def idp_add(cfg: CFG, name: str, provider_type: str, issuer: str | None = None, client_id: str | None = None,
            client_secret: str | None = None, scope: Sequence[str] | None = None,
            options: dict[str, str] | None = None) -> None:
    """Declare identity provider *name* with all its options at once.

    One edit for the whole provider: set option by option (``gridauth config set``), an OpenID
    provider is refused at its first option for lacking the others.
    """
    _require_absent(cfg, "identity provider", name)
    ensure_section(cfg, [*IDPS.strip("/").split("/"), name])
    idp_modify(cfg, name, provider_type, issuer, client_id, client_secret, scope, options)


def idp_modify(cfg: CFG, name: str, provider_type: str | None = None, issuer: str | None = None,
               client_id: str | None = None, client_secret: str | None = None,
               scope: Sequence[str] | None = None, options: dict[str, str] | None = None,
               remove_options: Sequence[str] = ()) -> None:
    """Change an identity provider's options together (None keeps an option, an empty value removes it).

    *options* sets other options of the section by their CFG names; *remove_options* deletes some.
    """
    section = _require(cfg, "identity provider", name)
    for option in options or {}:
        if not NAME.fullmatch(option) or option in IDP_OPTIONS.values():
            raise EditError(f"identity provider {name!r}: {option!r} cannot be given as an extra option")
    values = {IDP_OPTIONS[key]: value for key, value in (
        ("provider_type", provider_type), ("issuer", issuer), ("client_id", client_id),
        ("client_secret", client_secret), ("scope", None if scope is None else _join(scope)))}
    for option, value in {**values, **(options or {})}.items():
        if value is None:
            continue
        if value.strip():
            set_option(cfg, f"{IDPS}/{name}/{option}", value.strip())
        elif option in section.listOptions():
            delete(cfg, f"{IDPS}/{name}/{option}")
    for option in remove_options:
        if option == "ProviderType" or option not in section.listOptions():
            raise EditError(f"identity provider {name!r}: no option {option!r} to remove"
                            if option != "ProviderType" else "ProviderType cannot be removed")
        delete(cfg, f"{IDPS}/{name}/{option}")


def idp_remove(cfg: CFG, name: str) -> None:
    """Delete identity provider *name* (a VO still naming it makes validation refuse)."""
    _remove(cfg, "identity provider", name)


def idp_list(cfg: CFG) -> list[dict[str, Any]]:
    """Identity providers as dicts (never the client secret, only whether one is set), other options apart."""
    idps = _entries(cfg, IDPS)
    out = []
    for name in idps.listSections():
        sec = _sub(idps, name)
        out.append({"name": name, "provider_type": _option(sec, "ProviderType"), "issuer": _option(sec, "issuer"),
                    "client_id": _option(sec, "client_id"), "has_secret": bool(_option(sec, "client_secret")),
                    "scope": as_list(_option(sec, "scope")),
                    "options": {k: _option(sec, k) for k in sec.listOptions() if k not in IDP_OPTIONS.values()}})
    return out
