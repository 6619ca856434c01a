"""Grants and SSO sessions as an administrator sees them in an incident: listed by a selector, revoked in batches.

A *selector* names the grants (refresh sessions) and browser SSO sessions it matches: every field
set must hold (user, client, VO, group, identity provider, issued before a time, or one grant by
id). An SSO session belongs to no client, VO or group, so a selector naming one of those, or a
grant, matches grants only. Only live ones are listed or revoked (not revoked, not expired).

Revoking many rows never holds one long lock: each batch of at most :data:`REVOKE_BATCH` rows is
its own short transaction (``batches.batches``), found by the primary key from where the last batch
ended (a selector on an unindexed column reads each row once, not once per batch). A grant is
revoked as :func:`tokens.revoke_grants` revokes one, so its refresh token and every access token
issued from it end with it; an SSO session as a sign-out ends it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, select, true, update
from sqlalchemy.orm import Session

from .batches import batches
from .engine import Database
from .models import GrantRow, SessionRow
from .results import rowcount
from .tokens import revoke_grants

REVOKE_BATCH = 500  # rows per revocation transaction
SSO_ID_LENGTH = 16  # an SSO session is shown by the start of its id's hash (the cookie's secret is never stored)


@dataclass(frozen=True)
class Selector:
    """Which sessions: every field set must hold (an empty selector matches every live session)."""

    grant: str | None = None
    user: str | None = None
    client: str | None = None
    vo: str | None = None
    group: str | None = None
    idp: str | None = None
    issued_before: int | None = None  # seconds since the epoch

    def named(self) -> dict[str, Any]:
        """The fields set, by name (for messages and the audit line)."""
        return {name: value for name, value in asdict(self).items() if value is not None}

    @property
    def grants_only(self) -> bool:
        """Whether the selector names something SSO sessions do not have (a grant, client, VO or group)."""
        return any(value is not None for value in (self.grant, self.client, self.vo, self.group))


@dataclass(frozen=True)
class SessionInfo:
    """One live session: a grant (``kind`` ``grant``) or a browser's SSO session (``sso``).

    ``issued_at`` is a grant's issue or an SSO session's sign-in; ``last_used_at`` and ``address``
    a grant's last token (its issue, then each refresh), an SSO session's sign-in.
    """

    kind: str
    id: str
    user: str
    client: str | None
    vo: str | None
    group: str | None
    idp: str | None
    issued_at: int
    expires_at: int
    last_used_at: int | None
    address: str | None


def _grant_filter(selector: Selector, now: int) -> ColumnElement[bool]:
    grant = GrantRow
    wanted = [(selector.grant, grant.id), (selector.user, grant.username), (selector.client, grant.client_id),
              (selector.vo, grant.vo), (selector.group, grant.group_name), (selector.idp, grant.idp)]
    clauses = [column == value for value, column in wanted if value is not None]
    if selector.issued_before is not None:
        clauses.append(grant.issued_at < selector.issued_before)
    return and_(grant.revoked_at.is_(None), grant.expires_at > now, *clauses)


def _sso_filter(selector: Selector, now: int) -> ColumnElement[bool] | None:
    """The SSO sessions *selector* matches; None: none (it names what SSO sessions do not have)."""
    if selector.grants_only:
        return None
    sso = SessionRow
    clauses = [column == value for value, column in ((selector.user, sso.username), (selector.idp, sso.idp))
               if value is not None]
    if selector.issued_before is not None:
        clauses.append(sso.auth_time < selector.issued_before)
    return and_(sso.revoked_at.is_(None), sso.expires_at > now, *clauses)


def _end_sso(session: Session, which: ColumnElement[bool], now: int) -> int:
    """End the SSO sessions *which* selects as a sign-out does: revoked, and expired now for the purge."""
    sso = SessionRow
    return rowcount(session.execute(
        update(sso).where(which, sso.revoked_at.is_(None))
        .values(revoked_at=now, expires_at=case((sso.expires_at > now, now), else_=sso.expires_at))
        .execution_options(synchronize_session=False)))


class SessionStore:
    """Lists and revokes grants and SSO sessions by :class:`Selector`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def matching(self, selector: Selector, now: int, limit: int | None = None) -> list[SessionInfo]:
        """The live sessions *selector* matches, newest first (at most *limit* of each kind; None: all)."""
        grant, sso = GrantRow, SessionRow
        grants = (select(grant.id, grant.username, grant.client_id, grant.vo, grant.group_name,
                                      grant.idp, grant.issued_at, grant.expires_at, grant.last_used_at,
                                      grant.last_address)
                               .where(_grant_filter(selector, now)).order_by(grant.issued_at.desc(), grant.id)
                               .limit(limit))
        sso_filter = _sso_filter(selector, now)
        ssos = (select(sso.id_hash, sso.username, sso.idp, sso.auth_time, sso.expires_at,
                                    sso.address)
                             .where(sso_filter if sso_filter is not None else false())
                             .order_by(sso.auth_time.desc(), sso.id_hash).limit(limit))

        def read(connection: Any) -> list[SessionInfo]:
            found = [SessionInfo("grant", row.id, row.username, row.client_id, row.vo, row.group_name, row.idp,
                                 row.issued_at, row.expires_at, row.last_used_at, row.last_address)
                     for row in connection.execute(grants)]
            if sso_filter is not None:
                found += [SessionInfo("sso", row.id_hash[:SSO_ID_LENGTH], row.username, None, None, None, row.idp,
                                      row.auth_time, row.expires_at, row.auth_time, row.address)
                          for row in connection.execute(ssos)]
            return found
        return self.db.read(read)

    def revoke(self, selector: Selector, now: int, batch: int = REVOKE_BATCH) -> tuple[int, int]:
        """Revoke the live grants and end the live SSO sessions *selector* matches; (grants, SSO sessions) ended."""
        grants = _in_batches(self.db, GrantRow.id, _grant_filter(selector, now),
                             lambda session, which: revoke_grants(session, which, now), batch)
        sso_filter = _sso_filter(selector, now)
        ssos = 0 if sso_filter is None else _in_batches(
            self.db, SessionRow.id_hash, sso_filter, lambda session, which: _end_sso(session, which, now), batch)
        return grants, ssos


def _in_batches(db: Database, key: Any, which: ColumnElement[bool],
                change: Callable[[Session, ColumnElement[bool]], int], batch: int) -> int:
    """Apply *change* to the rows *which* selects, *batch* rows per transaction in the order of the primary *key*."""
    def work(session: Session, after: str | None) -> tuple[int, str | None]:
        keys = session.scalars(select(key).where(which, key > after if after is not None else true())
                               .order_by(key).limit(batch)).all()
        if not keys:
            return 0, None
        changed = change(session, and_(key.in_(keys), which))
        return changed, keys[-1] if len(keys) == batch else None
    return batches(db, work, None)
