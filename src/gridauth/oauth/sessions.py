"""Sessions and incident control: what an administrator may list and end, and the record it leaves.

- A listing may name any mix of user, client, VO, group and identity provider: it shows every live
  grant (refresh session) and browser SSO session matching all of them, newest first, with issue
  time, expiry, last use, client and address (``db/sessions.py``).
- A revocation must name something (a grant, a user, a client, a VO, an identity provider, or
  "issued before" a time): an empty selector, which would end every session of the service, is
  refused, as is a selector that cannot be a name.
- Revoking a grant ends its refresh token and every access token issued from it, as a client's own
  revocation does (introspection and ``/userinfo`` then refuse them); revoking by user, identity
  provider or time also ends the matching SSO sessions, so a browser signed in before cannot get a
  new grant without signing in again.
- The rows are revoked in short batches, one transaction each, never one long lock on many rows;
  the answer is how many sessions were ended (grants and SSO sessions together).
- Every revocation leaves an audit line (``sessions_revoked``: the selector, the author, the counts).
- Suspending a user is not revoking: see ``Suspended`` in ``grants/membership.py``.
"""

from __future__ import annotations

from datetime import datetime, timezone

from .. import audit
from ..db.sessions import Selector, SessionInfo, SessionStore
from ..errors import EditError

MAX_NAME = 255  # the width of the name columns: a longer value can match nothing


def check_selector(selector: Selector, revoking: bool) -> Selector:
    """*selector* when it may be used; an :class:`EditError` naming the field otherwise.

    A revocation needs at least one field: "everything" is never what an incident calls for, and a
    typo that dropped the value must not end every session.
    """
    for name, value in selector.named().items():
        if isinstance(value, str) and not 0 < len(value) <= MAX_NAME:
            raise EditError(f"{name}: expected a name of 1 to {MAX_NAME} characters")
        if isinstance(value, int) and value < 0:
            raise EditError(f"{name}: expected a time after 1970")
    if revoking and not selector.named():
        raise EditError("name the sessions to revoke: a grant, user, client, VO, identity provider "
                        "or an issued-before time")
    return selector


def parse_time(text: str) -> int:
    """An ISO 8601 time (``2026-12-02T15:00:00Z``, ``2026-12-02 16:00+01:00``; no offset: UTC) in epoch seconds."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise EditError(f"not an ISO 8601 time: {text[:64]!r} (e.g. 2026-12-02T15:00:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())


def list_sessions(store: SessionStore, selector: Selector, now: int, limit: int | None = None) -> list[SessionInfo]:
    """The live grants and SSO sessions *selector* matches, newest first (at most *limit* of each kind)."""
    return store.matching(check_selector(selector, revoking=False), now, limit)


def revoke_sessions(store: SessionStore, selector: Selector, now: int, author: str) -> int:
    """End the live grants (with their access tokens) and SSO sessions *selector* matches; how many.

    Recorded in the audit log with *author* (the administrator, as the configuration history names them).
    """
    grants, ssos = store.revoke(check_selector(selector, revoking=True), now)
    named = selector.named()
    audit.record("sessions_revoked", user=selector.user, client=selector.client, group=selector.group,
                 vo=selector.vo, author=author, count=grants + ssos,
                 kind=" ".join(f"{name}={value}" for name, value in named.items()),
                 reason=f"{grants} grant(s) and {ssos} SSO session(s) ended")
    return grants + ssos
