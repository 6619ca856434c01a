"""When a stolen refresh token shows itself: record it, count it, and (per client) end the user's grants.

- A refresh token is a **possible theft** when it is presented after its grant was revoked (until
  the purge deletes the revoked grant), or when it is bound to a DPoP key and comes without a proof
  or with a proof by another key. Only the thief or the rightful holder can present it: one of the
  two holds a copy the other did not expect.
- Each one is an audit record (``token_theft_suspected``, ``audit.py``): the reason (``kind``), the
  client, the user, the grant and the client's address; never the token. And one count of
  ``gridauth_token_theft_suspected_total`` by reason (``/metrics``).
- With the client's ``RevokeOnTheft`` (the default for public clients, whose tokens are the ones
  that get copied), every live grant of that user from that client is revoked at once, with every
  access token issued from them: the thief's copy and the holder's alike, so the person logs in
  again, and the thief's next refresh fails.
- The request itself is refused as it would be anyway (``invalid_grant`` or ``invalid_dpop_proof``).
"""

from __future__ import annotations

from .. import audit, metrics
from ..db.tokens import Grant
from .services import GrantServices

REASONS = ("revoked_grant", "missing_proof", "wrong_key")


def suspected_theft(server: GrantServices, grant: Grant, reason: str, address: str | None, now: int) -> int:
    """Record a possible theft of *grant*'s refresh token (*reason* of :data:`REASONS`); how many grants it revoked."""
    found = server.query_client(grant.client_id)  # a registered client (oidc-agent's) too
    client = found.client if found is not None else None
    revoked = 0
    if client is not None and client.revoke_on_theft:
        revoked = server.tokens.revoke_client_user_grants(grant.client_id, grant.username, now)
    metrics.record_theft(reason)
    done = (f"revoked {revoked} live grant(s) of the user from this client" if client and client.revoke_on_theft
            else "grants left alone (RevokeOnTheft = no)")
    audit.record("token_theft_suspected", "refused", user=grant.username, client=grant.client_id, vo=grant.vo,
                 group=grant.group_name, address=address, kind=reason,
                 reason=f"possible stolen refresh token of grant {grant.id}; {done}")
    return revoked
