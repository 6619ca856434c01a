"""What the console edits: VOs, groups, users, clients and identity providers, as forms over ``admin/edits.py``.

Each entity says which of its items an administrator sees and may change (by ``admin/authz.py``'s
rules), which fields its form has, and turns a sent form into a change for the configuration store
made of ``admin.edits`` calls. The rights are checked again inside the change, on the configuration
being edited under the store's lock, so a form cannot reach past them whatever it holds.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Any

from diraccfg import CFG

from ...admin import edits
from ...admin.authz import CS_ADMINISTRATOR, Administrator
from ...config.cfgfile import as_list
from ...config.model import GRANT_TYPES, PROVIDER_TYPES
from ...errors import EditError, NotPermitted
from .forms import Field, Values, lines, text, words

Item = dict[str, Any]
Change = Callable[[CFG], dict[str, str] | None]  # what the change returns: a client's new secret, or None
GroupInfo = dict[str, tuple[str, list[str]]]  # group -> (VO, properties)


def group_info(cfg: CFG) -> GroupInfo:
    """Every group's VO and properties: what the rights of ``admin/authz.py`` are decided on."""
    return {g["name"]: (g["vo"], g["properties"]) for g in edits.group_list(cfg)}


def _of_user(info: GroupInfo, groups: Iterable[str]) -> list[tuple[str | None, list[str]]]:
    return [info[g] for g in groups if g in info]


def _permit(allowed: bool, what: str) -> None:
    if not allowed:
        raise NotPermitted(f"your group's rights do not cover {what}")


class Entity(ABC):
    """A kind of registry entry the console lists and edits (the base holds what all kinds share)."""

    kind = ""  # the URL part: /admin/<group>/<kind>/
    singular = ""
    title = ""
    globals_only = True  # clients, identity providers and VOs: CSAdministrator only (authz rule 1)
    columns: tuple[tuple[str, str], ...] = ()
    remover: Callable[[CFG, str], None]

    @abstractmethod
    def items(self, cfg: CFG) -> list[Item]:
        """Every entry, as ``admin.edits``' list function gives it."""

    def visible(self, admin: Administrator, info: GroupInfo, item: Item) -> bool:
        """Whether *admin* may see *item*."""
        return admin.may_manage_globals()

    def editable(self, admin: Administrator, info: GroupInfo, item: Item | None) -> bool:
        """Whether *admin* may change *item* (None: may create a new one)."""
        return admin.may_manage_globals()

    @abstractmethod
    def fields(self, admin: Administrator, cfg: CFG, item: Item | None) -> list[Field]:
        """The form for *item* (None: the form of a new entry, with its name)."""

    def values(self, item: Item) -> Values:
        """*item* as its form shows it."""
        return {key: value for key, value in item.items() if isinstance(value, str | list | bool)}

    @abstractmethod
    def add(self, admin: Administrator, name: str, values: Values) -> Change:
        """The change that creates entry *name* from a sent form."""

    @abstractmethod
    def modify(self, admin: Administrator, name: str, values: Values) -> Change:
        """The change that applies a sent form to entry *name*."""

    def remove(self, admin: Administrator, name: str) -> Change:
        """The change that deletes entry *name*."""
        def change(cfg: CFG) -> None:
            _permit(self.editable(admin, group_info(cfg), self._find(cfg, name)), f"removing {name}")
            self.remover(cfg, name)
        return change

    def _find(self, cfg: CFG, name: str) -> Item:
        for item in self.items(cfg):
            if item["name"] == name:
                return item
        raise EditError(f"unknown {self.singular} {name!r}")


class Users(Entity):
    """Users and their identities: VO administrators see the users of their VO (rules 2 and 3)."""

    kind, singular, title, globals_only = "users", "user", "Users", False
    remover = staticmethod(edits.user_remove)
    columns = (("name", "Name"), ("email", "E-mail"), ("groups", "Groups"), ("suspended", "Suspended"))

    def items(self, cfg: CFG) -> list[Item]:  # noqa: D102
        return [{**u, "dn": as_list(u["dn"]), "id": as_list(u["id"])} for u in edits.user_list(cfg)]

    def visible(self, admin: Administrator, info: GroupInfo, item: Item) -> bool:  # noqa: D102
        return admin.may_see_user(_of_user(info, item["groups"]))

    def editable(self, admin: Administrator, info: GroupInfo, item: Item | None) -> bool:  # noqa: D102
        return admin.is_admin if item is None else admin.may_manage_user(_of_user(info, item["groups"]))

    def fields(self, admin: Administrator, cfg: CFG, item: Item | None) -> list[Field]:  # noqa: D102
        info = group_info(cfg)
        fixed = item is not None and not self.editable(admin, info, item)
        mine = tuple(g for g, (vo, props) in info.items() if admin.may_manage_group(vo, props))
        name = [Field("name", "Name", note="letters, digits and . _ @ + -")] if item is None else []
        return [*name,
                Field("dn", "Certificate DNs", "lines", "one per line", readonly=fixed),
                Field("id", "Identity-provider subjects (ID)", "lines", "one per line: the sub of each linked identity",
                      readonly=fixed),
                Field("email", "E-mail", readonly=fixed),
                Field("groups", "Groups", "checks", "only the groups you manage are offered", choices=mine)]

    def add(self, admin: Administrator, name: str, values: Values) -> Change:  # noqa: D102
        groups = lines(values, "groups") or []

        def change(cfg: CFG) -> None:
            info = group_info(cfg)
            _permit(all(g in info and admin.may_manage_group(*info[g]) for g in groups), "one of these groups")
            if not (admin.everything or groups):
                raise EditError("choose at least one of your groups: a user in none of them would not be yours")
            edits.user_add(cfg, name, lines(values, "dn") or (), lines(values, "id") or (),
                           text(values, "email") or None, groups)
        return change

    def modify(self, admin: Administrator, name: str, values: Values) -> Change:  # noqa: D102
        chosen = set(lines(values, "groups") or [])

        def change(cfg: CFG) -> None:
            info = group_info(cfg)
            item = self._find(cfg, name)
            identities = "dn" in values
            _permit(not identities or self.editable(admin, info, item), f"the identities of {name}")
            _permit(self.visible(admin, info, item), f"the user {name}")
            mine = {g for g, (vo, props) in info.items() if admin.may_manage_group(vo, props)}
            _permit(chosen <= mine, "one of these groups")
            edits.user_modify(cfg, name, dns=lines(values, "dn"), subjects=lines(values, "id"),
                              email=(text(values, "email") or None) if identities else None,
                              add_groups=sorted(chosen), remove_groups=sorted(mine - chosen))
        return change

    def suspend(self, admin: Administrator, name: str, suspended: bool) -> Change:
        """The change that suspends user *name* or lifts it: the user as a whole, so only one that is wholly theirs."""
        def change(cfg: CFG) -> None:
            _permit(self.editable(admin, group_info(cfg), self._find(cfg, name)), f"suspending {name}")
            edits.user_suspend(cfg, name, suspended)
        return change


class Groups(Entity):
    """Groups: a VO administrator manages their VO's, except those carrying ``CSAdministrator``."""

    kind, singular, title, globals_only = "groups", "group", "Groups", False
    remover = staticmethod(edits.group_remove)
    columns = (("name", "Name"), ("vo", "VO"), ("properties", "Properties"), ("users", "Members"))

    def items(self, cfg: CFG) -> list[Item]:  # noqa: D102
        return edits.group_list(cfg)

    def visible(self, admin: Administrator, info: GroupInfo, item: Item) -> bool:  # noqa: D102
        return admin.may_manage_vo(item["vo"])

    def editable(self, admin: Administrator, info: GroupInfo, item: Item | None) -> bool:  # noqa: D102
        return admin.is_admin if item is None else admin.may_manage_group(item["vo"], item["properties"])

    def fields(self, admin: Administrator, cfg: CFG, item: Item | None) -> list[Field]:  # noqa: D102
        vos = tuple(v["name"] for v in edits.vo_list(cfg) if admin.may_manage_vo(v["name"]))
        name = [Field("name", "Name", note="letters, digits and . _ @ + -")] if item is None else []
        return [*name, Field("vo", "VO", "select", choices=vos),
                Field("properties", "Properties", note="comma-separated, e.g. NormalUser" + (
                    "" if admin.everything else f"; {CS_ADMINISTRATOR} is for the service administrators")),
                Field("users", "Members", note="comma-separated user names")]

    def values(self, item: Item) -> Values:  # noqa: D102
        return {**super().values(item), "properties": ", ".join(item["properties"]), "users": ", ".join(item["users"])}

    def add(self, admin: Administrator, name: str, values: Values) -> Change:  # noqa: D102
        def change(cfg: CFG) -> None:
            vo, properties = text(values, "vo"), words(values.get("properties", ""))
            _permit(admin.may_manage_group(vo, properties), f"a group of {vo} with these properties")
            edits.group_add(cfg, name, vo, properties, words(values.get("users", "")))
        return change

    def modify(self, admin: Administrator, name: str, values: Values) -> Change:  # noqa: D102
        def change(cfg: CFG) -> None:
            item = self._find(cfg, name)
            vo, properties = text(values, "vo"), words(values.get("properties", ""))
            _permit(admin.may_manage_group(item["vo"], item["properties"]), f"the group {name}")
            _permit(admin.may_manage_group(vo, properties), f"a group of {vo} with these properties")
            edits.group_modify(cfg, name, vo, properties, words(values.get("users", "")))
        return change


class VOs(Entity):
    """VOs: seen by their administrators, created and changed by the service administrators."""

    kind, singular, title, globals_only = "vos", "VO", "VOs", False
    remover = staticmethod(edits.vo_remove)
    columns = (("name", "Name"), ("admins", "VOAdmin"), ("idp", "Identity provider"),
               ("default_group", "Default group"), ("groups", "Groups"))

    def items(self, cfg: CFG) -> list[Item]:  # noqa: D102
        return edits.vo_list(cfg)

    def visible(self, admin: Administrator, info: GroupInfo, item: Item) -> bool:  # noqa: D102
        return admin.may_manage_vo(item["name"])

    def fields(self, admin: Administrator, cfg: CFG, item: Item | None) -> list[Field]:  # noqa: D102
        idps = ("", *(i["name"] for i in edits.idp_list(cfg)))
        name = [Field("name", "Name", note="letters, digits and . _ @ + -")] if item is None else []
        groups = item["groups"] if item else ()
        return [*name, Field("admins", "VO administrators (VOAdmin)", note="comma-separated user names"),
                Field("idp", "Identity provider", "select", choices=idps),
                Field("default_group", "Default group", "select", choices=("", *groups),
                      note="a group of this VO (create the VO first, then its groups)")]

    def values(self, item: Item) -> Values:  # noqa: D102
        return {**super().values(item), "admins": ", ".join(item["admins"])}

    def add(self, admin: Administrator, name: str, values: Values) -> Change:  # noqa: D102
        def change(cfg: CFG) -> None:
            _permit(admin.may_manage_globals(), "VOs")
            edits.vo_add(cfg, name, words(values.get("admins", "")), text(values, "idp") or None,
                         text(values, "default_group") or None)
        return change

    def modify(self, admin: Administrator, name: str, values: Values) -> Change:  # noqa: D102
        def change(cfg: CFG) -> None:
            _permit(admin.may_manage_globals(), "VOs")
            edits.vo_modify(cfg, name, words(values.get("admins", "")), text(values, "idp") or None,
                            text(values, "default_group") or None)
        return change


class Clients(Entity):
    """OAuth clients: a new confidential client's secret, or a rotated one, is shown once."""

    kind, singular, title = "clients", "client", "Clients"
    remover = staticmethod(edits.client_remove)
    columns = (("name", "Name"), ("client_id", "client_id"), ("public", "Public"), ("grant_types", "Grant types"))

    def items(self, cfg: CFG) -> list[Item]:  # noqa: D102
        return edits.client_list(cfg)

    def fields(self, admin: Administrator, cfg: CFG, item: Item | None) -> list[Field]:  # noqa: D102
        new = [Field("name", "Name", note="also its client_id"),
               Field("public", "Public client (no secret: a command line or a single-page application)", "flag")
               ] if item is None else []
        return [*new, Field("grant_types", "Grant types", "checks", "none checked: chosen from the client's kind",
                            choices=tuple(sorted(GRANT_TYPES))),
                Field("redirect_uris", "Redirect URIs", "lines", "one per line"),
                Field("post_logout_redirect_uris", "Post-logout redirect URIs", "lines", "one per line"),
                Field("scope", "Scope", note="space- or comma-separated, e.g. openid profile email offline_access")]

    def values(self, item: Item) -> Values:  # noqa: D102
        return {**super().values(item), "scope": " ".join(item["scope"])}

    def add(self, admin: Administrator, name: str, values: Values) -> Change:  # noqa: D102
        def change(cfg: CFG) -> dict[str, str]:
            _permit(admin.may_manage_globals(), "clients")
            return edits.client_add(cfg, name, bool(values.get("public")), lines(values, "grant_types") or (),
                                    lines(values, "redirect_uris") or (), text(values, "scope") or None,
                                    post_logout_redirect_uris=lines(values, "post_logout_redirect_uris") or ())
        return change

    def modify(self, admin: Administrator, name: str, values: Values) -> Change:  # noqa: D102
        def change(cfg: CFG) -> dict[str, str] | None:
            _permit(admin.may_manage_globals(), "clients")
            if values.get("rotate"):
                return edits.client_modify(cfg, name, new_secret=True)
            edits.client_modify(cfg, name, lines(values, "grant_types") or None, lines(values, "redirect_uris"),
                                text(values, "scope"),
                                post_logout_redirect_uris=lines(values, "post_logout_redirect_uris"))
            return None
        return change


class IdProviders(Entity):
    """Identity providers: the whole provider is one edit, so no half-built section is ever validated."""

    kind, singular, title = "idps", "identity provider", "Identity providers"
    remover = staticmethod(edits.idp_remove)
    columns = (("name", "Name"), ("provider_type", "Type"), ("issuer", "Issuer"), ("client_id", "client_id"))

    def items(self, cfg: CFG) -> list[Item]:  # noqa: D102
        return edits.idp_list(cfg)

    def fields(self, admin: Administrator, cfg: CFG, item: Item | None) -> list[Field]:  # noqa: D102
        name = [Field("name", "Name", note="letters, digits and . _ @ + -")] if item is None else []
        keep = " (one is set: leave empty to keep it)" if item and item["has_secret"] else ""
        return [*name, Field("provider_type", "Provider type", "select", "Local: passwords kept by gridauth",
                             choices=tuple(sorted(PROVIDER_TYPES))),
                Field("issuer", "Issuer URL", note="empty for Local"),
                Field("client_id", "client_id of gridauth at the provider"),
                Field("client_secret", "Client secret", "secret", "kept in clear in the configuration" + keep),
                Field("scope", "Scope", note="comma-separated; empty: openid, profile, email")]

    def values(self, item: Item) -> Values:  # noqa: D102
        return {**super().values(item), "scope": ", ".join(item["scope"])}

    def add(self, admin: Administrator, name: str, values: Values) -> Change:  # noqa: D102
        def change(cfg: CFG) -> None:
            _permit(admin.may_manage_globals(), "identity providers")
            edits.idp_add(cfg, name, text(values, "provider_type"), text(values, "issuer") or None,
                          text(values, "client_id") or None, text(values, "client_secret") or None,
                          words(values.get("scope", "")) or None)
        return change

    def modify(self, admin: Administrator, name: str, values: Values) -> Change:  # noqa: D102
        def change(cfg: CFG) -> None:
            _permit(admin.may_manage_globals(), "identity providers")
            edits.idp_modify(cfg, name, text(values, "provider_type"), text(values, "issuer"),
                             text(values, "client_id"), text(values, "client_secret") or None,
                             words(values.get("scope", "")))
        return change


ENTITIES: dict[str, Entity] = {e.kind: e for e in (VOs(), Groups(), Users(), Clients(), IdProviders())}
