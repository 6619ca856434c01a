"""Capability policies: which WLCG capabilities (``storage.read:/dteam``...) a token may carry.

- A group grants capabilities in its ``Capabilities`` option
  (``/Registry/Groups/<group>/Capabilities = storage.read:/dteam, storage.create:/dteam/user``).
  A policy grants a path prefix: a request for that path or one below it is granted, a wider path
  or a capability the group does not list is not. Paths are compared normalised (``..``, ``//``,
  a trailing ``/``; see ``config/capabilities.py``), so ``/dteam/../atlas`` is ``/atlas``.
- A user token carries a capability when its group's policy covers it and, if the client lists
  scopes, one of the client's capability entries covers it by the same rule (a client allowed
  ``storage.read:/`` may ask for ``storage.read:/dteam/data``).
- A client's own token (client credentials) has no group: its client's list is its policy, and a
  client that lists no capability gets none.
- What is not granted is left out of the token and of the response's ``scope`` (RFC 6749 §3.3):
  the client reads what it got. When the request asked for capabilities and none is left, it is
  ``invalid_scope`` instead: a storage token without a storage right would only fail later, at
  the storage.
- The policy is read at every issuance, refreshes included: a refresh after a policy change gets
  what the policy grants now, and never more than the login was granted (a refresh may narrow a
  capability to a sub-path, not widen it).
"""

from __future__ import annotations

from ..config.capabilities import Capability


def covered(capability: Capability, grants: tuple[Capability, ...]) -> bool:
    """Whether one of *grants* covers *capability* (same name, path at or below)."""
    return any(grant.covers(capability) for grant in grants)


def allowed(asked: tuple[Capability, ...], policy: tuple[Capability, ...],
            client: tuple[Capability, ...] | None) -> tuple[tuple[Capability, ...], tuple[Capability, ...]]:
    """(granted, refused) of *asked*: granted when *policy* covers it and *client* (None: no list) does too."""
    granted = tuple(c for c in asked if covered(c, policy) and (client is None or covered(c, client)))
    return granted, tuple(c for c in asked if c not in granted)
