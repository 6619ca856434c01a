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
- A revocation from the command line or the admin API names exactly one of :data:`REVOKE_BY`
  (:func:`one_revocation`): several would be read as "all of them" by the store but "any of them"
  by a hurried administrator; the admin API narrows a VO administrator's to their VO afterwards.
- Over JSON (:func:`selector_from`) the names are strings and ``issued_before`` epoch seconds (as
  listings give times) or an ISO 8601 time (as the command line takes it).
- Suspending a user is not revoking: see ``Suspended`` in ``grants/membership.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from .. import audit
from ..db.sessions import Selector, SessionInfo, SessionStore
from ..errors import EditError

MAX_NAME = 255  # the width of the name columns: a longer value can match nothing
REVOKE_BY = ("grant", "user", "client", "vo", "idp", "issued_before")  # what a revocation may name (one of)
LIST_BY = ("user", "client", "vo", "group", "idp")  # what a listing may name (any of)


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


def shown_time(value: int | None) -> str:
    """An epoch time as listings show it to people (``2026-12-02T15:00:00Z``; ``-``: none)."""
    return "-" if value is None else datetime.fromtimestamp(value, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> int:
    """An ISO 8601 time (``2026-12-02T15:00:00Z``, ``2026-12-02 16:00+01:00``; no offset: UTC) in epoch seconds."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise EditError(f"not an ISO 8601 time: {text[:64]!r} (e.g. 2026-12-02T15:00:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())


def one_revocation(given: Iterable[str], shown: Callable[[str], str] = str) -> str:
    """The one field of :data:`REVOKE_BY` among *given*; an :class:`EditError` (names as *shown*) otherwise."""
    names = set(given)
    chosen = [name for name in REVOKE_BY if name in names]
    if len(chosen) != 1:
        raise EditError(f"name exactly one of {', '.join(map(shown, REVOKE_BY))} "
                        f"(given: {', '.join(map(shown, chosen)) or 'none'})")
    return chosen[0]


def selector_from(values: Mapping[str, Any], allowed: Iterable[str]) -> Selector:
    """The selector a JSON object or a query gives (*allowed*: the fields it may name); :class:`EditError` if bad."""
    fields = dict.fromkeys(allowed)
    if unknown := sorted(set(values) - set(fields)):
        raise EditError(f"unknown selector {unknown[0]!r} (one of {', '.join(fields)})")
    for name, value in values.items():
        if value is None:
            continue
        if name == "issued_before":
            if isinstance(value, str):
                value = parse_time(value)
            elif isinstance(value, bool) or not isinstance(value, int):
                raise EditError("issued_before: expected epoch seconds or an ISO 8601 time")
        elif not isinstance(value, str):
            raise EditError(f"{name}: expected a name")
        fields[name] = value
    return Selector(**fields)


def vo_of_grant(store: SessionStore, grant: str, now: int) -> str | None:
    """The VO of the live grant *grant* (None: no such live grant, or a grant outside every VO)."""
    found = [row for row in store.matching(Selector(grant=grant), now, 1) if row.kind == "grant"]
    return found[0].vo if found else None


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
