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
3. A VO administrator's rights stop where another VO's or a global administrator's begin, so that
   rule 2 cannot be turned into rule 1: a group carrying ``CSAdministrator`` is managed by global
   administrators only (nobody else may create one, give a group that property, or change its
   members), and a user's identities (DNs, subjects, e-mail) or the user themselves may be changed
   by a VO administrator only when every group of that user is one the VO administrator manages
   (otherwise linking one's own subject to another VO's or a global administrator's account would
   take it over). A VO administrator may still add anyone to, or take anyone out of, their groups.
4. Everyone else administers nothing (the API's 403). Rights are looked up in the current snapshot
   on every request, so removing someone from ``VOAdmin`` ends their rights at the next reload,
   not at their token's expiry.
5. For the admin API, what a VO administrator's edit may change is decided from the change itself,
   the CFG paths it touches (:func:`check_change`), so that every way of making an edit (a resource
   verb, a batch, ``config set``) obeys rule 3: a group's section only when the group is one they
   manage (:meth:`Administrator.may_manage_group`) before and after the edit; a user's section only
   when they may manage the user (:meth:`Administrator.may_manage_user`) with every group the user
   is in before or after the edit. Nothing else: VOs themselves, clients, identity providers and
   every other option are global.
6. What a VO administrator reads is filtered the same way: their VO, its groups, and the users in
   at least one of its groups.
7. Sessions (:func:`session_scope`): a VO administrator lists and revokes only the grants of their
   VO. Their selector is always narrowed to their VO (``vo`` set, so an SSO session, which belongs
   to no VO, is never theirs to end); naming another VO, or a grant of another VO, is refused
   rather than answered with nothing, so that a mistyped VO is not mistaken for "no sessions".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..config.cfgfile import Tree, as_list
from ..config.registry import Registry
from ..errors import NotPermitted

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

    def may_manage_group(self, vo: str | None, properties: Iterable[str]) -> bool:
        """A group of *vo* with *properties*: rule 2, except a ``CSAdministrator`` group (rule 3)."""
        return self.everything or (self.may_manage_vo(vo) and CS_ADMINISTRATOR not in properties)

    def may_see_user(self, groups: Iterable[tuple[str | None, Iterable[str]]]) -> bool:
        """A user (given as the ``(vo, properties)`` of each of their groups) in one of this admin's VOs."""
        return self.everything or any(self.may_manage_vo(vo) for vo, _ in groups)

    def may_manage_user(self, groups: Iterable[tuple[str | None, Iterable[str]]]) -> bool:
        """A user's identities, or the user as a whole: every group of theirs is this admin's (rule 3)."""
        listed = list(groups)
        return self.everything or (bool(listed) and all(self.may_manage_group(vo, p) for vo, p in listed))

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
    """Refuse (:class:`NotPermitted`) what only a configuration administrator may do (rule 1)."""
    if not admin.may_manage_globals():
        raise NotPermitted(f"{what} needs a group with the {CS_ADMINISTRATOR} property "
                        f"({admin.user} acts in {admin.group})")


def require_vo(admin: Administrator, vo: str | None, what: str) -> None:
    """Refuse (:class:`NotPermitted`) *what* about *vo* to anyone but its administrators (rule 2)."""
    if not admin.may_manage_vo(vo):
        raise NotPermitted(f"{what}: {admin.user} acting in {admin.group} does not administer "
                           f"{'VO ' + repr(vo) if vo else 'this'}")


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


def _group_info(group: Any) -> tuple[str | None, list[str]]:
    """(VO, properties) of a group's section, as the Administrator's methods take them."""
    if not isinstance(group, Mapping):
        return None, []
    vo = group.get("VO")
    return (vo if isinstance(vo, str) else None), as_list(str(group.get("Properties", "")))


def _groups_of_user(name: str, tree: Tree) -> Iterator[tuple[str | None, list[str]]]:
    for group in _groups(tree).values():
        if isinstance(group, Mapping) and name in as_list(str(group.get("Users", ""))):
            yield _group_info(group)


def may_change(admin: Administrator, path: tuple[str, ...], before: Tree, after: Tree) -> bool:
    """Whether a VO administrator may change the CFG *path* in an edit from *before* to *after* (rule 5)."""
    if len(path) < 3 or path[0] != "Registry":
        return False
    if path[1] == "Groups":
        sides = [_groups(tree)[path[2]] for tree in (before, after) if path[2] in _groups(tree)]
        return all(admin.may_manage_group(*_group_info(group)) for group in sides)
    if path[1] == "Users":
        return admin.may_manage_user([*_groups_of_user(path[2], before), *_groups_of_user(path[2], after)])
    return False


def check_change(admin: Administrator, before: Tree, after: Tree) -> None:
    """Refuse (:class:`NotPermitted`) an edit from *before* to *after* touching anything outside *admin*'s rights."""
    if admin.everything:
        return
    for path in changed_paths(before, after):
        if not may_change(admin, path, before, after):
            vos = ", ".join(sorted(admin.vos)) or "none"
            raise NotPermitted(f"/{'/'.join(path)}: outside what {admin.user} may administer in group {admin.group} "
                            f"(the users and groups of VO {vos})")


def visible(admin: Administrator, kind: str, row: Mapping[str, Any], vo_of_group: Mapping[str, str]) -> bool:
    """Whether *admin* may see the listed *row* of *kind* (rule 6; everything for a configuration administrator)."""
    if kind == "group":
        return admin.may_manage_vo(row.get("vo"))
    if kind == "vo":
        return admin.may_manage_vo(row.get("name"))
    if kind == "user":
        return admin.may_see_user((vo_of_group.get(g), ()) for g in row.get("groups", ()))
    return admin.everything


def session_scope(admin: Administrator, fields: Mapping[str, Any],
                  vo_of_grant: Callable[[str], str | None]) -> dict[str, Any]:
    """The session selector's *fields* *admin* may use (rule 7): as given for a configuration administrator;
    for a VO administrator narrowed to their VO, or :class:`NotPermitted` when it names another VO or a
    grant of another VO (*vo_of_grant*: the VO of a live grant by id, None when there is none).
    """
    if admin.everything:
        return dict(fields)
    vo = fields.get("vo")
    if vo is None:
        vo = next(iter(sorted(admin.vos)), None)
    if not admin.may_manage_vo(vo):
        raise NotPermitted(f"the sessions of VO {vo}: outside what {admin.user} may administer in group "
                           f"{admin.group} (the sessions of VO {', '.join(sorted(admin.vos)) or 'none'})")
    grant = fields.get("grant")
    if grant is not None:
        owner = vo_of_grant(str(grant))
        if owner is not None and owner != vo:
            raise NotPermitted(f"grant {grant} is of VO {owner}: outside what {admin.user} may administer in group "
                               f"{admin.group} (the sessions of VO {vo})")
    return {**fields, "vo": vo}
