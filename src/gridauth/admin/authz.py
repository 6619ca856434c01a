"""Who may administer what, decided from the registry alone: the rules every admin surface shares.

Administrators prove who they are with gridauth's own tokens (the admin API, the remote CLI) or the
SSO session (the web console); either way the request arrives as a registry user acting in one group.
The rules, as DIRAC's registry has them:

1. A user acting in a group with the ``CSAdministrator`` property, and still a member of that group in
   the configuration being served, may do everything: every VO, group, user, client, identity
   provider and global setting, every session.
2. A user listed in a VO's ``VOAdmin`` option, acting in a group of that VO, may manage that VO's
   users, groups and sessions: nothing of another VO, and no client, identity provider or global
   setting. A user who is ``VOAdmin`` of two VOs administers the one of the group the token names.
3. Everyone else administers nothing (the API's 403). Rights are looked up in the current snapshot
   on every request, so removing someone from ``VOAdmin`` ends their rights at the next reload,
   not at their token's expiry.
4. What a VO administrator's edit may change is decided from the change itself, the CFG paths it
   touches (:func:`check_change`), so that every way of making an edit (a resource verb, a batch, a
   console form) obeys the same rule: a group's section only when the group belongs to their VO
   before and after the edit and holds ``CSAdministrator`` neither before nor after (no one makes
   themselves a configuration administrator); a user's section only when every group the user is
   in, before or after the edit, belongs to their VO (the DNs and subjects of someone who is also
   another VO's member are that VO's business too: changing them would take over that person).
   Nothing else: VOs themselves, clients, identity providers and every other option are global.
5. What a VO administrator reads is filtered the same way: their VO, its groups, and the users in
   at least one of its groups.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..config.cfgfile import Tree, as_list
from ..config.registry import Registry
from ..errors import Forbidden

CS_ADMINISTRATOR = "CSAdministrator"


@dataclass(frozen=True)
class Administrator:
    """What one registry user, acting in one group, may administer."""

    user: str
    group: str
    everything: bool = False  # rule 1
    vos: frozenset[str] = frozenset()  # rule 2: the VOs whose users, groups and sessions they manage

    @property
    def is_admin(self) -> bool:
        """Whether there is anything at all this person may administer."""
        return self.everything or bool(self.vos)

    def may_manage_vo(self, vo: str | None) -> bool:
        """Users, groups and sessions of *vo* (None: something outside every VO, a global admin's only)."""
        return self.everything or (vo is not None and vo in self.vos)

    def may_manage_globals(self) -> bool:
        """Clients, identity providers, VOs themselves, global settings, history and rollback."""
        return self.everything


def administrator(registry: Registry, user: str, group: str) -> Administrator:
    """The rights of *user* acting in *group*, by the rules above (no rights: ``is_admin`` is False)."""
    if registry.user(user) is None or not registry.is_member(user, group):
        return Administrator(user, group)
    if CS_ADMINISTRATOR in registry.properties_of_group(group):
        return Administrator(user, group, everything=True)
    vo = registry.vo_of_group(group)
    if vo is not None and user in registry.vos[vo].admins:
        return Administrator(user, group, vos=frozenset({vo}))
    return Administrator(user, group)


def require_globals(admin: Administrator, what: str) -> None:
    """Refuse (:class:`Forbidden`) what only a configuration administrator may do (rule 1)."""
    if not admin.may_manage_globals():
        raise Forbidden(f"{what} needs a group with the {CS_ADMINISTRATOR} property "
                        f"({admin.user} acts in {admin.group})")


def _flat(tree: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str | None]]:
    for key, value in tree.items():
        path = (*prefix, key)
        if isinstance(value, Mapping):
            yield path, None  # the section itself: its creation or deletion is a change
            yield from _flat(value, path)
        else:
            yield path, value


def changed_paths(before: Tree, after: Tree) -> list[tuple[str, ...]]:
    """Every CFG path (a section or an option) that exists on one side only or has another value."""
    old, new = dict(_flat(before)), dict(_flat(after))
    return sorted(path for path in old.keys() | new.keys()
                  if path not in old or path not in new or old[path] != new[path])


def _groups(tree: Tree) -> Mapping[str, Any]:
    node = tree.get("Registry", {})
    groups = node.get("Groups", {}) if isinstance(node, Mapping) else {}
    return groups if isinstance(groups, Mapping) else {}


def _group_ok(admin: Administrator, name: str, tree: Tree) -> bool:
    group = _groups(tree).get(name)
    if group is None:
        return True  # not on this side of the edit (being added, or removed)
    if not isinstance(group, Mapping):
        return False
    return group.get("VO") in admin.vos and CS_ADMINISTRATOR not in as_list(str(group.get("Properties", "")))


def _vos_of_user(name: str, tree: Tree) -> Iterator[Any]:
    for group in _groups(tree).values():
        if isinstance(group, Mapping) and name in as_list(str(group.get("Users", ""))):
            yield group.get("VO")


def may_change(admin: Administrator, path: tuple[str, ...], before: Tree, after: Tree) -> bool:
    """Whether a VO administrator may change the CFG *path* in an edit from *before* to *after* (rule 4)."""
    if len(path) < 3 or path[0] != "Registry":
        return False
    if path[1] == "Groups":
        return _group_ok(admin, path[2], before) and _group_ok(admin, path[2], after)
    if path[1] == "Users":
        vos = [*_vos_of_user(path[2], before), *_vos_of_user(path[2], after)]
        return bool(vos) and all(vo in admin.vos for vo in vos)
    return False


def check_change(admin: Administrator, before: Tree, after: Tree) -> None:
    """Refuse (:class:`Forbidden`) an edit from *before* to *after* that touches anything outside *admin*'s rights."""
    if admin.everything:
        return
    for path in changed_paths(before, after):
        if not may_change(admin, path, before, after):
            vos = ", ".join(sorted(admin.vos)) or "none"
            raise Forbidden(f"/{'/'.join(path)}: outside what {admin.user} may administer in group {admin.group} "
                            f"(the users and groups of VO {vos})")


def visible(admin: Administrator, kind: str, row: Mapping[str, Any], vo_of_group: Mapping[str, str]) -> bool:
    """Whether *admin* may see the listed *row* of *kind* (rule 5; everything for a configuration administrator)."""
    if admin.everything:
        return True
    if kind == "group":
        return row.get("vo") in admin.vos
    if kind == "vo":
        return row.get("name") in admin.vos
    if kind == "user":
        return any(vo_of_group.get(g) in admin.vos for g in row.get("groups", ()))
    return False
