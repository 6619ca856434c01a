"""Map a person authenticated by an external identity provider onto the registry: user and groups.

The registry decides who someone is and which groups they may act in; the identity provider's group
claims can only narrow that down, except for a VO that declares its identity provider authoritative.
This follows DIRAC, whose OAuth2/CheckIn/IAM identity providers find the DIRAC user through the ``ID``
(the provider's ``sub``) and the groups through the ``VOMSRole`` and ``IdPRole`` options of the groups.

Group claims
------------
Two claims are read; any other claim is ignored.

``eduperson_entitlement`` (a string or a list of strings), AARC-G002 / EGI Check-in entitlements::

    <namespace>:group:<vo>[:<subgroup>...][:role=<role>][#<authority>]
    urn:mace:egi.eu:group:dteam:role=member#aai.egi.eu
    urn:mace:egi.eu:group:dteam:prod:role=pilot#aai.egi.eu

The namespace is everything before the first ``group`` segment and must start with ``urn:``; group
segments and the role are percent-decoded. As DIRAC does, a ``registry`` segment right after ``group``
(the older Check-in form ``...:group:registry:<vo>:...``) is skipped. ``role=member`` is the EGI
marker of plain membership and means "no role".

``wlcg.groups`` (a list of strings, or one string), WLCG common JWT profile / INDIGO IAM groups::

    /<vo>[/<group>...]        e.g. /dteam, /dteam/admin

A VOMS FQAN written the same way (``/dteam/Role=admin``, ``/dteam/Role=NULL/Capability=NULL``) is read
too. Each entry becomes a membership ``(vo, group path, role)``. A VO, group or role name is 1 to 128
letters, digits and ``_ . + @ ~ -``, not starting with one of ``. + @ ~ -``. Entries that do not parse
(wrong type, bad syntax, empty parts, longer than 1024 characters, beyond the first 1000 of a claim) are
ignored one by one.

How a membership is compared
----------------------------
A membership is written as a path: ``(vo, *groups)``, with the role, if any, appended as a last element
(``/dteam/Role=admin`` is ``dteam/admin``). Holding a role in a group, or belonging to a subgroup,
implies belonging to every group above it, so a claimed membership covers its own path and all its
prefixes: ``urn:mace:egi.eu:group:dteam:role=admin#aai.egi.eu`` covers ``dteam/admin`` and ``dteam``;
``/dteam/prod`` covers ``dteam/prod`` and ``dteam``. Treating a role like a last-level group is what
DIRAC does (it looks an entitlement ``<vo>:role=<role>`` up as the VOMS role ``/<vo>/<role>``) and what
INDIGO IAM does (a VOMS role ``/cms/Role=production`` is the IAM group ``cms/production``). Names are
compared exactly (case-sensitive); ``member`` and ``NULL`` roles are compared case-insensitively.

Which groups the claims select
------------------------------
A registry group is selected when one claimed membership covers the path of its ``VOMSRole`` or of one
of its ``IdPRole`` values:

``VOMSRole``
    A VOMS FQAN: ``/<vo>`` (the VO root), ``/<vo>/<group>...`` (a subgroup, or in DIRAC's short form
    ``/<vo>/<role>`` a role at the VO root: both are the same path here), ``/<vo>[/<group>...]/Role=<role>``.
    A value that does not start with ``/`` selects nothing.

``IdPRole`` (a list; any one value is enough), one of:
    * the short form, ``<vo>[:<group>...][:role=<role>]``: ``dteam``, ``dteam:role=admin``,
      ``dteam:prod:role=pilot`` (an entitlement without namespace and authority; it matches entitlements of
      any namespace and ``wlcg.groups`` entries alike);
    * a whole entitlement, ``urn:...:group:<vo>...[#<authority>]``, optionally behind DIRAC's scope prefix
      ``eduperson_entitlement?value=``: like the short form, but only entitlements with the same
      namespace (compared case-insensitively) and, when it names one, the same authority match it;
    * a WLCG group path, ``/<vo>[/<group>...]``, optionally behind DIRAC's scope prefix ``wlcg.groups:``:
      the same as the equivalent short form.
    A value that fits none of these selects nothing.

The decision
------------
* The subject must be the ``ID`` of a registry user, or there is no mapping (``None``).
* When neither ``eduperson_entitlement`` nor ``wlcg.groups`` is present, the registry decides alone:
  all the groups listing the user.
* Otherwise (even when the claims are empty or unreadable, which fails closed) the user gets the groups
  that list them *and* are selected by the claims, plus the selected groups of any VO with
  ``IdPAuthoritative = yes`` whose ``IdProvider`` is the provider that authenticated the person (a VO
  without ``IdProvider`` trusts no provider that way).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from ..config.model import Group
from ..config.registry import Registry

log = logging.getLogger(__name__)

ENTITLEMENT_CLAIM = "eduperson_entitlement"
WLCG_GROUPS_CLAIM = "wlcg.groups"
GROUP_CLAIMS = (ENTITLEMENT_CLAIM, WLCG_GROUPS_CLAIM)

MAX_ENTRIES = 1000
MAX_ENTRY_LENGTH = 1024
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+@~-]{0,127}")
_AUTHORITY = re.compile(r"[!-~]{1,255}")
_ENTITLEMENT_SCOPE = "eduperson_entitlement?value="
_WLCG_SCOPE = "wlcg.groups:"

Parsed = tuple[str, tuple[str, ...], str | None]


@dataclass(frozen=True)
class ExternalIdentity:
    """A person as an external identity provider asserts them: the provider's name, ``sub`` and claims."""

    idp: str
    subject: str
    claims: Mapping[str, Any]


@dataclass(frozen=True)
class MappedIdentity:
    """The registry user an external identity is, and the groups they may act in (sorted)."""

    username: str
    groups: tuple[str, ...]


@dataclass(frozen=True)
class Membership:
    """One group membership read from a claim: VO, group path below it, role, and where it came from.

    ``namespace`` and ``authority`` are set for entitlements only (``authority`` when it has one).
    """

    vo: str
    path: tuple[str, ...] = ()
    role: str | None = None
    namespace: str | None = None
    authority: str | None = None

    @property
    def key(self) -> tuple[str, ...]:
        """The membership as one path: VO, groups, then the role (if any)."""
        return (self.vo, *self.path, *((self.role,) if self.role else ()))

    def covers(self) -> frozenset[tuple[str, ...]]:
        """Every path this membership implies: its own and those of all the groups above it."""
        key = self.key
        return frozenset(key[:n] for n in range(1, len(key) + 1))


@dataclass(frozen=True)
class _Rule:
    """What a group asks of a claimed membership: a covered path, maybe a namespace and authority."""

    key: tuple[str, ...]
    namespace: str | None = None
    authority: str | None = None

    def matches(self, membership: Membership) -> bool:
        """Whether *membership* comes from the right namespace and authority and covers the path."""
        if self.namespace is not None and (membership.namespace or "").lower() != self.namespace.lower():
            return False
        if self.authority is not None and membership.authority != self.authority:
            return False
        return self.key in membership.covers()


# -- parsing -------------------------------------------------------------------------------------
class _Malformed(ValueError):
    """An entry that does not parse."""


def _name(raw: str, decode: bool = False) -> str:
    try:
        value = unquote(raw, errors="strict") if decode else raw
    except UnicodeDecodeError:
        raise _Malformed(raw) from None
    if not _NAME.fullmatch(value):
        raise _Malformed(raw)
    return value


def _role(raw: str, decode: bool = False) -> str | None:
    """The role named *raw*; None for the plain-membership markers ``member`` and ``NULL``."""
    value = _name(raw, decode)
    return None if value.lower() in ("member", "null") else value


def _split(segments: list[str], role_prefix: str, decode: bool) -> Parsed:
    """``(vo, path, role)`` of group segments with an optional last ``<role_prefix><role>``."""
    role = None
    if segments and segments[-1].startswith(role_prefix):
        role = _role(segments[-1][len(role_prefix):], decode)
        segments = segments[:-1]
    if not segments:
        raise _Malformed("no VO")
    vo, *path = (_name(s, decode) for s in segments)
    return vo, tuple(path), role


def _entitlement(value: object) -> Membership:
    """``<namespace>:group:<vo>[:<group>...][:role=<role>][#<authority>]``."""
    if not isinstance(value, str) or len(value) > MAX_ENTRY_LENGTH:
        raise _Malformed("not a string")
    body, hashmark, authority = value.partition("#")
    if hashmark and not _AUTHORITY.fullmatch(authority):
        raise _Malformed(value)
    segments = body.split(":")
    if "group" not in segments[1:]:
        raise _Malformed(value)
    at = segments.index("group", 1)
    namespace = ":".join(segments[:at])
    if not namespace.lower().startswith("urn:"):
        raise _Malformed(value)
    rest = segments[at + 1:]
    if len(rest) > 1 and rest[0] == "registry" and not rest[1].startswith("role="):
        rest = rest[1:]  # the older Check-in form ...:group:registry:<vo>:..., skipped as DIRAC does
    vo, path, role = _split(rest, "role=", decode=True)
    return Membership(vo, path, role, namespace=namespace, authority=authority or None)


def _fqan(value: object) -> Parsed:
    """``/<vo>[/<group>...][/Role=<role>][/Capability=<c>]`` (a WLCG group or a VOMS FQAN)."""
    if not isinstance(value, str) or len(value) > MAX_ENTRY_LENGTH or not value.startswith("/"):
        raise _Malformed("not a group path")
    segments = value[1:].split("/")
    if len(segments) > 1 and segments[-1].startswith("Capability="):
        segments = segments[:-1]
    return _split(segments, "Role=", decode=False)


def parse_entitlement(value: object) -> Parsed | None:
    """``(vo, group path, role)`` of an AARC-G002 / EGI entitlement, or None when it is not one.

    ``urn:mace:egi.eu:group:dteam:prod:role=pilot#aai.egi.eu`` gives ``("dteam", ("prod",), "pilot")``;
    ``role=member`` gives the role None.
    """
    try:
        membership = _entitlement(value)
    except _Malformed:
        return None
    return membership.vo, membership.path, membership.role


def parse_wlcg_group(value: object) -> Parsed | None:
    """``(vo, group path, role)`` of a ``wlcg.groups`` entry, or None when it is not one.

    ``/dteam/prod`` gives ``("dteam", ("prod",), None)``; the VOMS form ``/dteam/Role=admin`` gives
    ``("dteam", (), "admin")``.
    """
    try:
        return _fqan(value)
    except _Malformed:
        return None


def _entries(value: object) -> Iterable[object]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)):
        return value[:MAX_ENTRIES]
    return ()


def memberships(claims: Mapping[str, Any]) -> tuple[Membership, ...] | None:
    """The memberships the group claims of *claims* assert; None when there is no group claim at all."""
    if not any(name in claims for name in GROUP_CLAIMS):
        return None
    found: list[Membership] = []
    ignored = 0
    for entry in _entries(claims.get(ENTITLEMENT_CLAIM)):
        try:
            found.append(_entitlement(entry))
        except _Malformed:
            ignored += 1
    for entry in _entries(claims.get(WLCG_GROUPS_CLAIM)):
        try:
            found.append(Membership(*_fqan(entry)))
        except _Malformed:
            ignored += 1
    if ignored:
        log.debug("ignored %d unreadable group claim entries", ignored)
    return tuple(dict.fromkeys(found))


# -- the registry side ---------------------------------------------------------------------------
def _idp_role_rule(value: str) -> _Rule:
    text = value.strip()
    if text.startswith(_ENTITLEMENT_SCOPE):
        text = text[len(_ENTITLEMENT_SCOPE):]
        if not text.lower().startswith("urn:"):
            raise _Malformed(value)
    elif text.startswith(_WLCG_SCOPE):
        text = text[len(_WLCG_SCOPE):]
        if not text.startswith("/"):
            raise _Malformed(value)
    if text.lower().startswith("urn:"):
        membership = _entitlement(text)
        return _Rule(membership.key, namespace=membership.namespace, authority=membership.authority)
    if text.startswith("/"):
        return _Rule(Membership(*_fqan(text)).key)
    if "#" in text or len(text) > MAX_ENTRY_LENGTH:
        raise _Malformed(value)
    return _Rule(Membership(*_split(text.split(":"), "role=", decode=True)).key)


def _group_rules(group: Group) -> tuple[_Rule, ...]:
    """The rules through which claims select *group*: its VOMSRole, then each IdPRole value."""
    rules = []
    if group.voms_role:
        try:
            rules.append(_Rule(Membership(*_fqan(group.voms_role.strip())).key))
        except _Malformed:
            log.debug("group %s: VOMSRole %r is not a VOMS FQAN", group.name, group.voms_role)
    for value in group.idp_roles:
        try:
            rules.append(_idp_role_rule(value))
        except _Malformed:
            log.debug("group %s: IdPRole %r has no known form", group.name, value)
    return tuple(rules)


def selected_groups(registry: Registry, claimed: Iterable[Membership]) -> frozenset[str]:
    """Names of the registry groups that the *claimed* memberships select (whom they list is not checked)."""
    claimed = tuple(claimed)
    if not claimed:
        return frozenset()
    return frozenset(
        group.name for group in registry.groups.values()
        if any(rule.matches(m) for rule in _group_rules(group) for m in claimed)
    )


def map_identity(registry: Registry, identity: ExternalIdentity) -> MappedIdentity | None:
    """The registry user and groups of an external identity; None when its subject is not registered.

    See the module documentation for the rules.
    """
    user = registry.user_by_subject(identity.subject)
    if user is None:
        return None
    listed = set(registry.groups_of(user.name))
    claimed = memberships(identity.claims)
    if claimed is None:
        return MappedIdentity(user.name, tuple(sorted(listed)))
    selected = selected_groups(registry, claimed)
    granted = listed & selected
    for name in selected - listed:
        vo = registry.vos.get(registry.groups[name].vo)
        if vo is not None and vo.authoritative_idp and vo.idp and vo.idp == identity.idp:
            granted.add(name)
    return MappedIdentity(user.name, tuple(sorted(granted)))
