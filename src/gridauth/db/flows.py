"""Interactive-flow state: authorization codes, device flows, SSO sessions, external logins, rate limits.

Secrets (codes, device codes, session ids) are stored as SHA-256 hashes. Single use is enforced
with conditional updates, so two processes racing for the same code or device code cannot both win.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, or_, select, update

from ..hashing import token_digest
from .engine import Database
from .models import AuthorizationCodeRow, DeviceFlowRow, LoginStateRow, RateLimitRow, SessionRow
from .results import rowcount


class FlowStore:
    """Reads and writes the state of logins in progress."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- authorization codes ---------------------------------------------------------------------
    def save_code(self, code: str, row: AuthorizationCodeRow) -> None:
        """Store a new authorization code (its hash)."""
        row.code_hash = token_digest(code)
        with self.db.transaction() as session:
            session.add(row)

    def use_code(self, code: str, now: int) -> tuple[AuthorizationCodeRow | None, bool]:
        """Mark the code used; return it and whether this call was the first use (False: a replay)."""
        digest = token_digest(code)
        with self.db.transaction() as session:
            first = rowcount(session.execute(update(AuthorizationCodeRow)
                                             .where(AuthorizationCodeRow.code_hash == digest,
                                                    AuthorizationCodeRow.used_at.is_(None))
                                             .values(used_at=now))) == 1
            return session.get(AuthorizationCodeRow, digest), first

    def link_code(self, code_hash: str, grant_id: str) -> None:
        """Remember which grant a code produced, so that a replay can revoke it."""
        with self.db.transaction() as session:
            session.execute(update(AuthorizationCodeRow).where(AuthorizationCodeRow.code_hash == code_hash)
                            .values(grant_id=grant_id))

    def nonce_used(self, client_id: str, nonce: str) -> bool:
        """Whether *nonce* was already used by *client_id* in an authorization request."""
        with self.db.transaction() as session:
            return session.scalar(select(AuthorizationCodeRow.code_hash).where(
                AuthorizationCodeRow.client_id == client_id, AuthorizationCodeRow.nonce == nonce).limit(1)) is not None

    # -- device flows ----------------------------------------------------------------------------
    def save_device_flow(self, device_code: str, row: DeviceFlowRow) -> None:
        """Store a new pending device flow."""
        row.device_code_hash = token_digest(device_code)
        with self.db.transaction() as session:
            session.add(row)

    def device_flow(self, device_code: str) -> DeviceFlowRow | None:
        """The device flow of *device_code*, or None."""
        with self.db.transaction() as session:
            return session.get(DeviceFlowRow, token_digest(device_code))

    def device_flow_by_user_code(self, user_code: str) -> DeviceFlowRow | None:
        """The device flow of *user_code*, or None."""
        with self.db.transaction() as session:
            return session.scalar(select(DeviceFlowRow).where(DeviceFlowRow.user_code == user_code))

    def record_poll(self, device_code_hash: str, now: int, interval: int) -> None:
        """Remember when the client last polled (and its possibly increased interval)."""
        with self.db.transaction() as session:
            session.execute(update(DeviceFlowRow).where(DeviceFlowRow.device_code_hash == device_code_hash)
                            .values(last_polled_at=now, interval=interval))

    def decide_device_flow(self, user_code: str, now: int, approved: bool, **who: Any) -> bool:
        """Approve (with the user, group, VO, properties, auth_time) or deny a pending flow; False if not pending."""
        values = {"status": "approved" if approved else "denied", **(who if approved else {})}
        with self.db.transaction() as session:
            return rowcount(session.execute(update(DeviceFlowRow).where(
                DeviceFlowRow.user_code == user_code, DeviceFlowRow.status == "pending",
                DeviceFlowRow.expires_at > now).values(**values))) == 1

    def consume_device_flow(self, device_code_hash: str) -> bool:
        """Turn an approved flow into a consumed one; True only for the one caller that did it."""
        with self.db.transaction() as session:
            return rowcount(session.execute(update(DeviceFlowRow).where(
                DeviceFlowRow.device_code_hash == device_code_hash, DeviceFlowRow.status == "approved")
                .values(status="consumed"))) == 1

    # -- SSO sessions ----------------------------------------------------------------------------
    def create_session(self, secret: str, username: str, idp: str, groups: list[str] | None, auth_time: int,
                       expires_at: int) -> None:
        """Start a browser session identified by *secret* (only its hash is stored)."""
        with self.db.transaction() as session:
            session.add(SessionRow(id_hash=token_digest(secret), username=username, idp=idp,
                                   groups=json.dumps(groups) if groups is not None else None,
                                   auth_time=auth_time, expires_at=expires_at, revoked_at=None))

    def session(self, secret: str, now: int) -> SessionRow | None:
        """The live session of *secret*, or None when unknown, ended or expired."""
        if not secret or len(secret) > 128:
            return None
        with self.db.transaction() as session:
            row = session.get(SessionRow, token_digest(secret))
        if row is None or row.revoked_at is not None or row.expires_at <= now:
            return None
        return row

    def end_session(self, secret: str, now: int) -> None:
        """End the session of *secret*."""
        with self.db.transaction() as session:
            session.execute(update(SessionRow).where(SessionRow.id_hash == token_digest(secret))
                            .values(revoked_at=now))

    # -- external logins in progress -------------------------------------------------------------
    def save_login_state(self, state: str, data: dict[str, Any], next_url: str, expires_at: int) -> None:
        """Remember a login started at an external provider."""
        with self.db.transaction() as session:
            session.add(LoginStateRow(state=state, data=json.dumps(data), next_url=next_url, expires_at=expires_at))

    def take_login_state(self, state: str, now: int) -> tuple[dict[str, Any], str] | None:
        """The data and next URL of a login in progress, removed so it serves once; None if unknown/expired."""
        if not state or len(state) > 128:
            return None
        with self.db.transaction() as session:
            row = session.get(LoginStateRow, state)
            if row is None:
                return None
            session.delete(row)
            if row.expires_at <= now:
                return None
            return json.loads(row.data), row.next_url

    # -- rate limits -----------------------------------------------------------------------------
    def hit(self, key: str, now: int, limit: int, window: int) -> bool:
        """Count one attempt under *key*; False when more than *limit* were made in the current window."""
        with self.db.transaction() as session:
            row = session.get(RateLimitRow, key[:255])
            if row is None:
                session.add(RateLimitRow(key=key[:255], window_start=now, count=1))
                return True
            if row.window_start + window <= now:
                row.window_start, row.count = now, 1
                return True
            row.count += 1
            return row.count <= limit

    def within(self, key: str, now: int, limit: int, window: int) -> bool:
        """Whether fewer than *limit* attempts were counted under *key* in the current window (counts nothing)."""
        with self.db.transaction() as session:
            row = session.get(RateLimitRow, key[:255])
            return row is None or row.window_start + window <= now or row.count < limit

    # -- housekeeping ----------------------------------------------------------------------------
    def purge_expired(self, now: int) -> dict[str, int]:
        """Delete expired codes, device flows, sessions, login states and rate-limit windows."""
        counts = {}
        with self.db.transaction() as session:
            # Used codes are kept a day after they expired, so that a late replay still revokes its tokens.
            counts["codes"] = rowcount(session.execute(delete(AuthorizationCodeRow).where(
                AuthorizationCodeRow.expires_at < now - 86400)))
            for name, table, column in (("device_flows", DeviceFlowRow, DeviceFlowRow.expires_at),
                                        ("login_states", LoginStateRow, LoginStateRow.expires_at)):
                counts[name] = rowcount(session.execute(delete(table).where(column < now)))
            counts["sessions"] = rowcount(session.execute(delete(SessionRow).where(or_(
                SessionRow.expires_at < now, SessionRow.revoked_at.is_not(None)))))
            counts["rate_limits"] = rowcount(session.execute(delete(RateLimitRow).where(
                RateLimitRow.window_start < now - 86400)))
        return counts
