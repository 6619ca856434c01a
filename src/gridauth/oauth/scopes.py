"""Scopes: how a token request names the group it wants, and the canonical scope a token carries.

DIRAC spells a group ``g:<group>``; DiracX spells it ``group:<group>`` and the VO ``vo:<vo>``; both
are understood. ``property:<P>`` narrows the group's properties to those asked. No group asked means
the user's default group (in the VO, when one is asked). Tokens carry the canonical form:
the other scopes, then ``vo:<vo> group:<group>`` (and the ``property:`` scopes asked).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749.errors import InvalidScopeError

from ..config.registry import Registry
from .params import shown

GROUP_PREFIXES = ("g:", "group:")


class ScopeRefused(InvalidScopeError):
    """``invalid_scope`` with a machine-readable *reason* and its *details* (group, VO, properties).

    The protocol answer keeps the short English description; pages tell the person in their own
    words from *reason*, without parsing that description. Reasons: ``too_many``, ``empty``,
    ``not_member``, ``not_in_vo``, ``missing_properties``, ``no_group``, ``no_default_group``.
    """

    def __init__(self, reason: str, description: str, **details: Any) -> None:
        super().__init__(description)
        self.reason = reason
        self.details = details


@dataclass(frozen=True)
class ScopeRequest:
    """A requested scope split into plain scopes and the grid selectors."""

    plain: tuple[str, ...]
    group: str | None
    vo: str | None
    properties: tuple[str, ...]

    @classmethod
    def parse(cls, scope: str | None) -> ScopeRequest:
        """Split *scope*; more than one group or VO is ``invalid_scope``."""
        plain: list[str] = []
        groups: set[str] = set()
        vos: set[str] = set()
        properties: list[str] = []
        for item in (scope or "").split():
            if item.startswith(GROUP_PREFIXES):
                groups.add(item.split(":", 1)[1])
            elif item.startswith("vo:"):
                vos.add(item[3:])
            elif item.startswith("property:"):
                properties.append(item[9:])
            elif item not in plain:
                plain.append(item)
        if len(groups) > 1 or len(vos) > 1:
            raise ScopeRefused("too_many", "ask for one group and one VO at most")
        if "" in groups or "" in vos or "" in properties:
            raise ScopeRefused("empty", "empty group, VO or property in scope")
        return cls(tuple(plain), next(iter(groups), None), next(iter(vos), None), tuple(dict.fromkeys(properties)))

    @property
    def has_grid_selectors(self) -> bool:
        """Whether a group, VO or property is named."""
        return bool(self.group or self.vo or self.properties)


@dataclass(frozen=True)
class Membership:
    """The group a token is for, its VO and the properties it carries."""

    username: str
    group: str
    vo: str
    properties: tuple[str, ...]


def _membership(registry: Registry, username: str, group: str, request: ScopeRequest,
                candidates: tuple[str, ...]) -> Membership:
    found = registry.group(group)
    # The VO first: a group of another VO is not among the candidates of the VO asked for, and
    # "not in VO" is the reason that tells the person (and the client) what to change.
    if found is not None and request.vo and found.vo != request.vo:
        raise ScopeRefused("not_in_vo", f"group {shown(group)} is not in VO {shown(request.vo)}", group=group,
                           vo=request.vo)
    if found is None or group not in candidates:
        raise ScopeRefused("not_member", f"the user may not act in group {shown(group)}", group=group)
    unknown = [p for p in request.properties if p not in found.properties]
    if unknown:
        listed = shown(", ".join(unknown), quote=False)
        raise ScopeRefused("missing_properties", f"group {shown(group)} does not have the properties {listed}",
                           group=group, properties=tuple(unknown))
    return Membership(username, group, found.vo, tuple(request.properties or found.properties))


def resolve(registry: Registry, username: str, request: ScopeRequest) -> Membership:
    """Choose the group for *username* from *request* (or the default group); refuse what they do not have."""
    group = request.group
    if group is None:
        group = registry.default_group(username, request.vo)
        if group is None:
            where = f" in VO {shown(request.vo)}" if request.vo else ""
            raise ScopeRefused("no_default_group", f"no default group{where} for this user; ask for one with "
                               "group:<name>", vo=request.vo)
    return _membership(registry, username, group, request, registry.groups_of(username))


def select(registry: Registry, username: str, request: ScopeRequest, allowed: tuple[str, ...] | None = None,
           chosen: str | None = None) -> Membership | tuple[str, ...]:
    """The membership for an interactive login, or the groups to offer when the person must choose.

    *allowed* narrows the registry groups (an external provider's claims). The scope's group is
    taken, else the person's *chosen* group, else the VO's ``DefaultGroup`` when the scope names a
    VO, else the only candidate. Otherwise the candidates come back for the person to choose, the
    default group (``/Registry/VO/<vo>/DefaultGroup``, ``/Registry/DefaultGroup``) first.
    """
    candidates = registry.groups_of(username) if allowed is None else allowed
    if request.vo:
        candidates = tuple(g for g in candidates if registry.vo_of_group(g) == request.vo)
    default = registry.default_group(username, request.vo)
    group = request.group or chosen
    if group is None and request.vo and default in candidates:
        group = default
    if group is None:
        if not candidates:
            where = f" in VO {shown(request.vo)}" if request.vo else ""
            raise ScopeRefused("no_group", f"the user has no group{where}", vo=request.vo)
        if len(candidates) > 1:
            return tuple(sorted(candidates, key=lambda g: g != default))
        group = candidates[0]
    return _membership(registry, username, group, request, candidates)


def canonical(plain: tuple[str, ...], membership: Membership | None, asked_properties: tuple[str, ...] = ()) -> str:
    """The scope string a token carries: the plain scopes, then ``vo:``, ``group:`` and ``property:``."""
    items = list(plain)
    if membership is not None:
        items += [f"vo:{membership.vo}", f"group:{membership.group}"]
        items += [f"property:{p}" for p in asked_properties]
    return " ".join(items)


def check_plain_allowed(allowed: tuple[str, ...], plain: tuple[str, ...]) -> None:
    """Refuse plain scopes the client is not registered for (no list registered: any)."""
    if allowed:
        extra = [s for s in plain if s not in allowed]
        if extra:
            listed = shown(", ".join(extra), quote=False)
            raise ScopeRefused("client_scope", f"the client may not ask for {listed}",
                               scopes=tuple(extra))
