"""What a token exchange (RFC 8693) may give a client, shared by the exchange and the refresh of its grants.

The policy is the client's ``TokenExchange`` section (``config.model.ExchangePolicy``); the rules
are listed in ``token_exchange.py``. A grant made by an exchange is re-checked against the policy
at each refresh, as a login's grant is against the registry: a client that lost the grant type,
its refresh tokens or the user's group gets no more tokens from it.
"""

from __future__ import annotations

import json
from typing import Any

from ...config.model import TOKEN_EXCHANGE_GRANT, Client
from ..params import shown

ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
REFRESH_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:refresh_token"
# How many actors an ``act`` claim may name, nested (a chain of services, each exchanging again).
MAX_ACTORS = 8


def policy_refusal(client: Client, group: str, refresh: bool) -> str | None:
    """Why *client*'s policy refuses an exchange for a user of *group* (a *refresh* token asked), or None."""
    if TOKEN_EXCHANGE_GRANT not in client.grant_types or client.is_public:
        return "the client may not exchange tokens"
    policy = client.exchange
    if policy.groups and group not in policy.groups:
        return f"the client may not exchange tokens of group {shown(group)}"
    if refresh and not policy.refresh_tokens:
        return "the client may not get refresh tokens by token exchange"
    return None


def actor_claim(client_id: str, earlier: Any) -> dict[str, Any]:
    """The ``act`` claim (RFC 8693 §4.1) of a token *client_id* gets for a user: itself, the *earlier* actors nested.

    Raises ValueError when the chain would name more than :data:`MAX_ACTORS` actors.
    """
    act: dict[str, Any] = {"sub": client_id}
    if isinstance(earlier, dict):
        if actors(earlier) >= MAX_ACTORS:
            raise ValueError(f"a token may name {MAX_ACTORS} actors at most")
        act["act"] = earlier
    return act


def actors(act: Any) -> int:
    """How many actors an ``act`` claim names (itself and the nested ones)."""
    count = 0
    while isinstance(act, dict):
        count += 1
        act = act.get("act")
    return count


def stored_actor(actor: str | None) -> dict[str, Any] | None:
    """The ``act`` claim an exchanged grant keeps (JSON in ``grants.actor``), None for none."""
    return json.loads(actor) if actor else None
