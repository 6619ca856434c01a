"""The registry snapshot: an immutable view of one configuration version, with lookup indexes.

A snapshot is built once per configuration version and then only read, so request handlers can
share it across threads without locks; a reload builds a new one and swaps the reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ..errors import ConfigIssue
from .model import VO, AuthorizationSettings, Client, Group, IdProvider, User


@dataclass(frozen=True)
class Registry:
    """Users, groups, VOs, clients and identity providers of one configuration version."""

    settings: AuthorizationSettings
    vos: Mapping[str, VO]
    users: Mapping[str, User]
    groups: Mapping[str, Group]
    clients: Mapping[str, Client]
    idps: Mapping[str, IdProvider]
    default_groups: tuple[str, ...]
    version: str
    _by_subject: Mapping[str, str]
    _by_dn: Mapping[str, str]
    _groups_of_user: Mapping[str, tuple[str, ...]]
    # Which of the top sections the file has ("Registry", "Authorization"): the reload guard compares them.
    sections: frozenset[str] = frozenset()
    # When this process started serving this version (Unix time in whole seconds, as the clock; 0 when not
    # served: a snapshot built outside a RegistryHolder).
    served_since: int = 0
    # The id of this text in the configuration's history (``gridauth config history``), when the holder knows it.
    history_version: int | None = None
    # What the configuration refers to but does not hold (a dangling reference that only turns a feature off).
    warnings: tuple[ConfigIssue, ...] = ()

    @classmethod
    def build(
        cls,
        settings: AuthorizationSettings,
        vos: dict[str, VO],
        users: dict[str, User],
        groups: dict[str, Group],
        clients: dict[str, Client],
        idps: dict[str, IdProvider],
        default_groups: tuple[str, ...] = (),
        version: str = "",
        sections: frozenset[str] = frozenset(),
    ) -> Registry:
        """Freeze the given objects and compute the indexes once."""
        by_subject = {sub: u.name for u in users.values() for sub in u.subjects}
        by_dn = {dn: u.name for u in users.values() for dn in u.dns}
        groups_of: dict[str, list[str]] = {}
        for group in groups.values():
            for member in group.users:
                groups_of.setdefault(member, []).append(group.name)
        freeze = MappingProxyType
        return cls(
            settings=settings,
            vos=freeze(dict(vos)),
            users=freeze(dict(users)),
            groups=freeze(dict(groups)),
            clients=freeze({c.client_id: c for c in clients.values()}),
            idps=freeze(dict(idps)),
            default_groups=default_groups,
            version=version,
            _by_subject=freeze(by_subject),
            _by_dn=freeze(by_dn),
            _groups_of_user=freeze({u: tuple(sorted(gs)) for u, gs in groups_of.items()}),
            sections=sections,
        )

    # -- users ---------------------------------------------------------------------------------
    def user(self, name: str) -> User | None:
        """The user called *name*, or None."""
        return self.users.get(name)

    def user_by_subject(self, subject: str) -> User | None:
        """The user whose ``ID`` (identity-provider subject) is *subject*, or None."""
        name = self._by_subject.get(subject)
        return self.users[name] if name else None

    def user_by_dn(self, dn: str) -> User | None:
        """The user holding certificate *dn*, or None."""
        name = self._by_dn.get(dn)
        return self.users[name] if name else None

    def groups_of(self, username: str, vo: str | None = None) -> tuple[str, ...]:
        """Names of the groups *username* belongs to, optionally only those of *vo*, sorted."""
        names = self._groups_of_user.get(username, ())
        if vo is None:
            return names
        return tuple(g for g in names if self.groups[g].vo == vo)

    def vos_of(self, username: str) -> tuple[str, ...]:
        """The VOs *username* is a member of (through at least one group), sorted."""
        return tuple(sorted({self.groups[g].vo for g in self.groups_of(username)}))

    def default_group(self, username: str, vo: str | None = None) -> str | None:
        """The group a token gets when the request names none.

        The VO's ``DefaultGroup`` first (when *vo* is given or the user is in one VO only), then
        the first of ``/Registry/DefaultGroup`` the user belongs to, then the user's only group.
        """
        mine = self.groups_of(username, vo)
        if not mine:
            return None
        vos = [vo] if vo else list(self.vos_of(username))
        if len(vos) == 1 and vos[0] in self.vos:
            preferred = self.vos[vos[0]].default_group
            if preferred in mine:
                return preferred
        for name in self.default_groups:
            if name in mine:
                return name
        return mine[0] if len(mine) == 1 else None

    # -- groups --------------------------------------------------------------------------------
    def group(self, name: str) -> Group | None:
        """The group called *name*, or None."""
        return self.groups.get(name)

    def users_of_group(self, name: str) -> frozenset[str]:
        """Members of group *name* (empty when the group is unknown)."""
        group = self.groups.get(name)
        return group.users if group else frozenset()

    def properties_of_group(self, name: str) -> tuple[str, ...]:
        """DIRAC properties of group *name* (empty when the group is unknown)."""
        group = self.groups.get(name)
        return group.properties if group else ()

    def vo_of_group(self, name: str) -> str | None:
        """The VO of group *name*, or None."""
        group = self.groups.get(name)
        return group.vo if group else None

    def is_member(self, username: str, group: str) -> bool:
        """Whether *username* is listed in *group* right now."""
        return username in self.users_of_group(group)

    def wlcg_claims(self, vo: str | None) -> bool:
        """Whether tokens of *vo* follow the WLCG profile: the VO's ``WLCGClaims``, else the global one."""
        found = self.vos.get(vo) if vo else None
        own = found.wlcg_claims if found is not None else None
        return self.settings.wlcg_claims if own is None else own

    # -- clients and providers -----------------------------------------------------------------
    def client(self, client_id: str) -> Client | None:
        """The OAuth client registered with *client_id*, or None."""
        return self.clients.get(client_id)
