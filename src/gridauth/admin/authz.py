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
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..config.registry import Registry

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
