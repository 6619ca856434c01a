"""The WLCG Common JWT Profile (version 1.x) for access tokens: when a token follows it, and its groups.

- A user token follows the profile when ``WLCGClaims`` says so for its VO
  (``/Registry/VO/<vo>/WLCGClaims``, else ``/DIRAC/Security/Authorization/WLCGClaims``), or when
  its scope asks for ``wlcg``, ``wlcg:1.0`` or a ``wlcg.groups`` scope (profile §3.1, §3.4). A
  client's own token follows it when the global option is on or it asks for ``wlcg``.
- Such a token carries the profile's claims, in the profile's order (:data:`PROFILE_CLAIMS`):
  ``wlcg.ver`` is ``"1.0"`` (the profile keeps "1.0" until every reader knows 1.2), and
  ``wlcg.groups`` is left out of a client's token (it would be empty). gridauth's own claims
  (``client_id``, the DIRAC ones, ``auth_time``, ``cnf``) follow.
- ``wlcg`` and ``wlcg:1.0`` are honoured and echoed in the scope; ``wlcg:<another version>`` is
  not honoured and not echoed (RFC 6749 §3.3).
- ``wlcg.groups``: without a group scope, the token's default groups ``/<vo>`` and
  ``/<vo>/<group>``. ``wlcg.groups:/<vo>/<g>`` asks for group ``g`` of the token's VO (and
  ``wlcg.groups:/<vo>`` for the VO itself), granted while the user is a member. Groups come in the
  order asked, the default groups at the place of the bare ``wlcg.groups`` scope, else after the
  others (§3.1), each once. A group the user is not entitled to is left out and its scope not
  echoed; only the groups asked are disclosed, for size and privacy.
"""

from __future__ import annotations

from ..config.registry import Registry

VERSION = "1.0"
VERSIONS = ("", VERSION)  # ``wlcg``, ``wlcg:1.0``
PROFILE_CLAIMS = ("wlcg.ver", "sub", "iss", "aud", "iat", "nbf", "exp", "jti", "scope", "wlcg.groups")


def follows_profile(registry: Registry, vo: str | None, wlcg: str | None, group_scopes: tuple[str, ...]) -> bool:
    """Whether a token of *vo* (None: a client's own token) asking *wlcg* and *group_scopes* follows the profile."""
    asked = wlcg in VERSIONS or (vo is not None and bool(group_scopes))
    return asked or (registry.wlcg_claims(vo) if vo else registry.settings.wlcg_claims)


def default_groups(vo: str, group: str) -> tuple[str, str]:
    """The groups a token of *group* in *vo* asserts when no ``wlcg.groups:`` scope names others."""
    return f"/{vo}", f"/{vo}/{group}"


def groups(registry: Registry, username: str, vo: str, group: str,
           asked: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the ``wlcg.groups`` claim, the group scopes granted) for *username* acting in *group* of *vo*."""
    defaults = default_groups(vo, group)
    if not asked:
        return defaults, ()
    claim: list[str] = []
    granted: list[str] = []
    for path in (*asked, "") if "" not in asked else asked:
        if path == "":
            claim += [d for d in defaults if d not in claim]
            if "" in asked:
                granted.append("")
        elif path in defaults or _entitled(registry, username, vo, path):
            granted.append(path)
            if path not in claim:
                claim.append(path)
    return tuple(claim), tuple(granted)


def _entitled(registry: Registry, username: str, vo: str, path: str) -> bool:
    """Whether *username* may be asserted a member of WLCG group *path* of *vo* now."""
    parts = path.strip("/").split("/")
    if parts[0] != vo or len(parts) > 2:
        return False
    if len(parts) == 1:
        return vo in registry.vos_of(username)
    found = registry.group(parts[1])
    return found is not None and found.vo == vo and registry.is_member(username, parts[1])
