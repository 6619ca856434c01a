"""Re-checking a user's group against the registry as it is now, for every grant that issues user tokens.

A refresh whose user or group is gone is refused at once, but its grant is revoked only once the
registry without them has been served for ``RemovalGracePeriod`` seconds (an hour by default):
a removal made by accident (a truncated file, a wrong edit) and rolled back within that time costs
the users a refused refresh, not their sessions (:func:`revoke_refused_grant`).

A suspended user (``Suspended = yes``) is refused too, with :class:`UserSuspended`, which never
revokes: the suspension holds the user's grants as they are, and lifting it gives them back.
"""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import InvalidGrantError

from ...config.registry import Registry
from ..params import shown
from ..scopes import Membership


class UserSuspended(InvalidGrantError):
    """``invalid_grant`` because the user is suspended: refused, never a reason to revoke the grant."""


def suspended(registry: Registry, username: str | None) -> bool:
    """Whether *username* is a registry user suspended now (``Suspended = yes``): nothing of theirs is honoured."""
    user = registry.user(username) if username else None
    return user is not None and user.suspended


def current_membership(registry: Registry, username: str, group: str, vo: str,
                       asked_properties: tuple[str, ...] = (), via_idp: str | None = None) -> Membership:
    """The membership of *username* in *group* of *vo* now; ``invalid_grant`` when it no longer holds
    or the user is suspended (:class:`UserSuspended`).

    In a VO whose identity provider is authoritative (``IdPAuthoritative = yes``), the provider's
    claims, checked at login, stand for the membership of the logins made through that provider
    (*via_idp*) only.
    """
    found = registry.group(group)
    if registry.user(username) is None:
        raise InvalidGrantError(f"user {shown(username)} no longer exists")
    if suspended(registry, username):
        raise UserSuspended(f"user {shown(username)} is suspended")
    if found is None or found.vo != vo or vo not in registry.vos:
        raise InvalidGrantError(f"group {shown(group)} no longer exists in VO {shown(vo)}")
    the_vo = registry.vos[vo]
    vouched = the_vo.authoritative_idp and via_idp is not None and via_idp == the_vo.idp
    if not registry.is_member(username, group) and not vouched:
        raise InvalidGrantError(f"user {shown(username)} is no longer a member of group {shown(group)}")
    properties = tuple(p for p in asked_properties if p in found.properties)
    if asked_properties and not properties:  # never widen to all the group's properties
        raise InvalidGrantError(f"group {shown(group)} no longer has the properties "
                                f"{shown(', '.join(asked_properties), quote=False)}")
    return Membership(username, group, vo, properties or found.properties)


def revoke_refused_grant(registry: Registry, now: float) -> bool:
    """Whether a grant refused by :func:`current_membership` under *registry* is also revoked at *now*.

    Only once *registry* (which lacks the user, the group or the membership) has been served for the
    grace period: before that the removal may be an accident about to be rolled back, and the grant
    stays, refused at every refresh, until its own expiry or the end of the grace period. A registry
    that was never served (``served_since`` 0, outside a serving process) revokes at once.
    """
    return now - registry.served_since >= registry.settings.lifetimes.removal_grace
