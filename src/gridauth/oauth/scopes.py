"""Scopes: how a token request names the group it wants, and the canonical scope a token carries.

DIRAC spells a group ``g:<group>``; DiracX spells it ``group:<group>`` and the VO ``vo:<vo>``; both
are understood. ``property:<P>`` narrows the group's properties to those asked. No group asked means
the user's default group (in the VO, when one is asked). Tokens carry the canonical form:
the other scopes, then ``vo:<vo> group:<group>`` (and the ``property:`` scopes asked).

The grid's parameter scopes are read here, once per request, into a :class:`ScopeRequest`:
WLCG capabilities (``storage.read:/dteam``, paths normalised, see ``config/capabilities.py``),
``wlcg`` / ``wlcg:<version>``, ``wlcg.groups`` / ``wlcg.groups:/<vo>/<group>`` and DIRAC's
``lifetime:<seconds>``. What a token is then granted of them is decided once, by :func:`decide`
(rules in ``capabilities.py`` and ``wlcg.py``), into a :class:`GrantedScope` that the grant hands
to the issuer as it is: nothing below parses the scope again.

``lifetime:N`` (DIRAC's scope) asks for a shorter access token: it is honoured when N is below the
client's (else the global) access-token lifetime, and the token then lives N seconds (``exp`` and
``expires_in`` say so) and its scope carries ``lifetime:N``; a longer N gets the maximum and is not
echoed (RFC 6749 §3.3: the response's ``scope`` says what was granted). N is 1 to 9 digits, not 0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from authlib.oauth2.rfc6749.errors import InvalidScopeError

from ..config import capabilities as grammar
from ..config.capabilities import BadCapability, Capability
from ..config.model import Client
from ..config.registry import Registry
from . import capabilities, wlcg
from .params import shown

GROUP_PREFIXES = ("g:", "group:")
WLCG_GROUPS = "wlcg.groups"
_LIFETIME = re.compile(r"[1-9][0-9]{0,8}")
# A WLCG group path (profile §2.1.1): "/" groupname, repeated; groupname [a-zA-Z0-9][a-zA-Z0-9_.-]*.
GROUP_PATH = re.compile(r"(?:/[A-Za-z0-9][A-Za-z0-9_.-]*)+")


class ScopeRefused(InvalidScopeError):
    """``invalid_scope`` with a machine-readable *reason* and its *details* (group, VO, properties).

    The protocol answer keeps the short English description; pages tell the person in their own
    words from *reason*, without parsing that description. Reasons: ``too_many``, ``empty``,
    ``not_member``, ``not_in_vo``, ``missing_properties``, ``no_group``, ``no_default_group``,
    ``malformed``, ``no_capability``.
    """

    def __init__(self, reason: str, description: str, **details: Any) -> None:
        super().__init__(description)
        self.reason = reason
        self.details = details


@dataclass(frozen=True)
class ScopeRequest:
    """A requested scope split into plain scopes and the grid selectors.

    *plain* keeps every scope that is not a group, VO or property, in the order asked (capabilities
    with their normalised paths); the parameter scopes among them are also read into their fields.
    """

    plain: tuple[str, ...]
    group: str | None
    vo: str | None
    properties: tuple[str, ...]
    capabilities: tuple[Capability, ...] = ()
    wlcg: str | None = None  # ``wlcg``: "", ``wlcg:1.0``: "1.0"; None when not asked
    wlcg_groups: tuple[str, ...] = ()  # ``wlcg.groups`` scopes in order: "" for the bare one, else the path
    lifetime: int | None = None
    ordinary: tuple[str, ...] = field(default=())  # the plain scopes that are no grid parameter

    @classmethod
    def parse(cls, scope: str | None) -> ScopeRequest:
        """Split *scope*; more than one group, VO or lifetime, or a malformed parameter, is ``invalid_scope``.

        The result is immutable and depends on the text alone, so the last few thousand scopes parsed
        are kept: a grant's scope is read again at each of its refreshes.
        """
        return _parse_scope(scope or "")

    @classmethod
    def _parse(cls, scope: str) -> ScopeRequest:
        plain: list[str] = []
        groups: set[str] = set()
        vos: set[str] = set()
        properties: list[str] = []
        parts: dict[str, list[Any]] = {"capabilities": [], "wlcg": [], "wlcg_groups": [], "lifetime": [],
                                       "ordinary": []}
        for item in scope.split():
            if item.startswith(GROUP_PREFIXES):
                groups.add(item.split(":", 1)[1])
            elif item.startswith("vo:"):
                vos.add(item[3:])
            elif item.startswith("property:"):
                properties.append(item[9:])
            else:
                item = _parameter(item, parts)
                if item not in plain:
                    plain.append(item)
        versions = sorted(set(parts["wlcg"]), reverse=True)  # a version named wins over the bare ``wlcg``
        if len(groups) > 1 or len(vos) > 1:
            raise ScopeRefused("too_many", "ask for one group and one VO at most")
        if len(set(parts["lifetime"])) > 1 or len(set(versions) - {""}) > 1:
            raise ScopeRefused("malformed", "ask for one lifetime and one wlcg version at most")
        if "" in groups or "" in vos or "" in properties:
            raise ScopeRefused("empty", "empty group, VO or property in scope")
        return cls(tuple(plain), next(iter(groups), None), next(iter(vos), None), tuple(dict.fromkeys(properties)),
                   tuple(dict.fromkeys(parts["capabilities"])), next(iter(versions), None),
                   tuple(dict.fromkeys(parts["wlcg_groups"])), next(iter(parts["lifetime"]), None),
                   tuple(dict.fromkeys(parts["ordinary"])))

    @property
    def has_grid_selectors(self) -> bool:
        """Whether a group, VO or property is named."""
        return bool(self.group or self.vo or self.properties)


# Bounded: scopes come from clients. A refused scope raises, and is not kept.
_parse_scope = lru_cache(maxsize=4096)(ScopeRequest._parse)


def _parameter(item: str, parts: dict[str, list[Any]]) -> str:
    """Read a plain scope *item* into *parts*; its canonical spelling (a capability's normalised path)."""
    name, colon, value = item.partition(":")
    try:
        capability = grammar.parse(item)
    except BadCapability as error:
        raise ScopeRefused("malformed", str(error), scope=item) from None
    if capability is not None:
        parts["capabilities"].append(capability)
        return capability.scope
    if name == "wlcg":
        parts["wlcg"].append(value)
    elif name == WLCG_GROUPS:
        if colon and not GROUP_PATH.fullmatch(value):
            raise ScopeRefused("malformed", f"{shown(item)} is not a WLCG group (wlcg.groups:/<vo>/<group>)")
        parts["wlcg_groups"].append(value)
    elif name == "lifetime":
        if not _LIFETIME.fullmatch(value):
            raise ScopeRefused("malformed", f"{shown(item)} is not a lifetime (lifetime:<seconds>)")
        parts["lifetime"].append(int(value))
    else:
        parts["ordinary"].append(item)
    return item


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
    """Refuse plain scopes the client is not registered for (no list registered: any).

    Give it a request's ``ordinary`` scopes: capabilities are checked by the prefix rule
    (``capabilities.py``) and the grid's parameter scopes need no listing.
    """
    if allowed:
        extra = [s for s in plain if s not in allowed]
        if extra:
            listed = shown(", ".join(extra), quote=False)
            raise ScopeRefused("client_scope", f"the client may not ask for {listed}",
                               scopes=tuple(extra))


def access_lifetime(registry: Registry, client: Client) -> int:
    """The longest access token *client* gets: its own ``AccessTokenLifetime``, else the global one."""
    own = client.access_token_lifetime
    return own if own is not None else registry.settings.lifetimes.access_token


@dataclass(frozen=True)
class GrantedScope:
    """What one token is granted, decided once per token request (:func:`decide`) and handed to the issuer.

    *text* is the token's canonical scope (the ``scope`` claim and the response's ``scope``);
    *refused* lists what was asked and left out, for the dry run.
    """

    text: str
    membership: Membership | None
    lifetime: int
    profile: bool = False
    wlcg_groups: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()


def decide(registry: Registry, client: Client, asked: ScopeRequest, membership: Membership | None,
          properties: tuple[str, ...] | None = None) -> GrantedScope:
    """What a token for *membership* (None: the client's own token) gets of *asked*, by the current registry.

    Capabilities by ``capabilities.py``, the profile and its groups by ``wlcg.py``, the lifetime by
    the module's rule; *properties*: the ``property:`` scopes echoed (default: those asked).
    """
    if membership is None:  # a client's own token: the client's list is its policy
        policy, listed = client.capabilities, None
    else:
        group = registry.group(membership.group)
        policy = group.capabilities if group is not None else ()
        listed = client.capabilities if client.scope else None
    caps, refused_caps = capabilities.allowed(asked.capabilities, policy, listed)
    if asked.capabilities and not caps:
        listed_text = shown(", ".join(c.scope for c in refused_caps), quote=False)
        raise ScopeRefused("no_capability", f"none of the capabilities asked is granted ({listed_text})",
                           scopes=tuple(c.scope for c in refused_caps))
    vo = membership.vo if membership else None
    profile = wlcg.follows_profile(registry, vo, asked.wlcg, asked.wlcg_groups)
    claim: tuple[str, ...] = ()
    group_scopes: tuple[str, ...] = ()
    if membership is not None and profile:
        claim, group_scopes = wlcg.groups(registry, membership.username, membership.vo, membership.group,
                                          asked.wlcg_groups)
    longest = access_lifetime(registry, client)
    lifetime = min(asked.lifetime or longest, longest)
    kept: set[str] = {c.scope for c in caps}
    kept.update(f"{WLCG_GROUPS}:{g}" if g else WLCG_GROUPS for g in group_scopes)
    if asked.wlcg in wlcg.VERSIONS:
        kept.update(("wlcg", f"wlcg:{wlcg.VERSION}"))
    if asked.lifetime is not None and asked.lifetime < longest:
        kept.add(f"lifetime:{asked.lifetime}")
    kept.update(asked.ordinary)
    plain = tuple(item for item in asked.plain if item in kept)
    refused = tuple(item for item in asked.plain if item not in kept)
    text = canonical(plain, membership, asked.properties if properties is None else properties)
    return GrantedScope(text, membership, lifetime, profile, claim, refused)


class GrantsScope:
    """Mixin of every token grant: the scope it decided (:attr:`granted`) is what the issuer gets, not a string.

    authlib hands its grants' ``generate_token`` the scope as a string (the code's, the request's);
    the grant that already decided a :class:`GrantedScope` gives that instead, so nothing is parsed again.
    """

    granted: GrantedScope | None = None

    def generate_token(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102 - authlib hook
        if self.granted is not None:
            kwargs["scope"] = self.granted
            self.request.granted = self.granted  # type: ignore[attr-defined]  # for the ID token (openid.py)
        return super().generate_token(*args, **kwargs)  # type: ignore[misc]
