"""Interactive-flow state: authorization codes, device flows, SSO sessions, external logins, rate limits.

Secrets (codes, device codes, session ids) are stored as SHA-256 hashes. Every state change is one
transaction whose writes are conditional (``UPDATE ... WHERE status = 'approved'`` and its row count,
an upsert for counters), so two processes, or two hosts, racing for the same code, device code or
counter cannot both win or lose an update, on SQLite as on MariaDB. The purge deletes in small
batches, each its own short transaction.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, delete, select, update
from sqlalchemy.orm import Session

from ..hashing import token_digest
from .batches import PURGE_BATCH, LeaseLost, StillOurs, batches, purge_range
from .engine import Database
from .lease import PREFIX as LEASE_PREFIX
from .lease import dialect_insert
from .models import AuthorizationCodeRow, DeviceFlowRow, LoginStateRow, RateLimitRow, SessionRow
from .results import rowcount
from .tokens import stored_address

log = logging.getLogger("gridauth.db")
DEVICE_POLL_TRIES = 3


@dataclass(frozen=True)
class DevicePoll:
    """What one poll of a device code found, decided and recorded in one transaction.

    *outcome* is ``unknown``, ``consumed`` (used before), ``expired``, ``denied``, ``approved`` (this
    poll consumed it: issue tokens from *row*), ``pending`` or ``slow_down`` (polled too fast; the
    interval grew).
    """

    outcome: str
    row: DeviceFlowRow | None


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

    def decide_device_flow(self, user_code: str, now: int, approved: bool, **who: Any) -> bool:
        """Approve (with the user, group, VO, properties, auth_time) or deny a pending flow; False if not pending."""
        values = {"status": "approved" if approved else "denied", **(who if approved else {})}
        with self.db.transaction() as session:
            return rowcount(session.execute(update(DeviceFlowRow).where(
                DeviceFlowRow.user_code == user_code, DeviceFlowRow.status == "pending",
                DeviceFlowRow.expires_at > now).values(**values))) == 1

    def poll_device_flow(self, device_code_hash: str, now: int, slow_down_step: int) -> DevicePoll:
        """One poll of the token endpoint for a device code: decide and record it in one transaction.

        An approved flow is left for the token response to consume, in the transaction that creates
        its grant (``TokenStore.create_grant_from_device_flow``), so of parallel polls exactly one gets
        the tokens, and a failure before the grant exists leaves the flow approved. A pending flow
        records the poll with a compare-and-set on the last poll time and interval, so parallel polls each see the one
        before: one is ``pending``, the others ``slow_down``, and the interval grows once per
        ``slow_down`` answered. A write that finds the row changed (an approval, a deny or another
        poll landed since it was read) reads it again under the lock its failed write took.
        """
        flow = DeviceFlowRow

        def work(session: Session) -> DevicePoll:
            for _ in range(DEVICE_POLL_TRIES):
                row = session.execute(select(flow).where(flow.device_code_hash == device_code_hash)
                                      .with_for_update().execution_options(populate_existing=True)).scalar()
                if row is None:
                    return DevicePoll("unknown", None)
                if row.status == "consumed":
                    return DevicePoll("consumed", row)
                if row.expires_at <= now:
                    return DevicePoll("expired", row)
                if row.status == "denied":
                    return DevicePoll("denied", row)
                if row.status == "approved":  # consumed where its grant is created
                    return DevicePoll("approved", row)
                too_fast = row.last_polled_at is not None and now - row.last_polled_at < row.interval
                last = flow.last_polled_at.is_(None) if row.last_polled_at is None \
                    else flow.last_polled_at == row.last_polled_at
                if rowcount(session.execute(update(flow).where(
                        flow.device_code_hash == device_code_hash, flow.status == "pending", last,
                        flow.interval == row.interval).values(
                        last_polled_at=now, interval=row.interval + (slow_down_step if too_fast else 0)))) == 1:
                    return DevicePoll("slow_down" if too_fast else "pending", row)
            return DevicePoll("slow_down", None)  # lost every race: the client polls too fast anyway

        return self.db.atomic(work)

    # -- SSO sessions ----------------------------------------------------------------------------
    def create_session(self, secret: str, username: str, idp: str, groups: list[str] | None, auth_time: int,
                       expires_at: int, address: str | None = None) -> None:
        """Start a browser session identified by *secret* (only its hash is stored), signed in from *address*."""
        with self.db.transaction() as session:
            session.add(SessionRow(id_hash=token_digest(secret), username=username, idp=idp,
                                   groups=json.dumps(groups) if groups is not None else None,
                                   auth_time=auth_time, expires_at=expires_at, revoked_at=None,
                                   address=stored_address(address)))

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
        """End the session of *secret*: revoked, and expired now, so that the purge's indexed range finds it."""
        with self.db.transaction() as session:
            session.execute(update(SessionRow).where(SessionRow.id_hash == token_digest(secret)).values(
                revoked_at=now, expires_at=case((SessionRow.expires_at > now, now), else_=SessionRow.expires_at)))

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
    def count_attempt(self, key: str, now: int, window: int) -> int:
        """Count one attempt under *key* and return the count of the current window, this one included.

        One upsert statement: it inserts the first attempt of a key, adds one to a running window, or
        starts a new window, under the row's lock, so parallel attempts (other threads, processes or
        hosts) are each counted once and the first attempts of a new key never collide on its insert.
        The count is read back in the same transaction, while the row is still locked by it.
        """
        key = key[:255]
        row = RateLimitRow
        stale = row.window_start <= now - window
        # MariaDB assigns left to right and the later expressions see the new values: count goes first,
        # while window_start still holds the old start (SQLite sees the old row in both).
        changes = [("count", case((stale, 1), else_=row.count + 1)),
                   ("window_start", case((stale, now), else_=row.window_start))]

        def work(session: Session) -> int:
            statement = dialect_insert(session, row).values(key=key, window_start=now, count=1)
            if session.get_bind().dialect.name == "sqlite":
                statement = statement.on_conflict_do_update(index_elements=[row.key], set_=dict(changes))
            else:
                statement = statement.on_duplicate_key_update(changes)
            session.execute(statement)
            return int(session.scalar(select(row.count).where(row.key == key)) or 0)

        return self.db.atomic(work)

    def hit(self, key: str, now: int, limit: int, window: int) -> bool:
        """Count one attempt under *key*; False when more than *limit* were made in the current window."""
        return self.count_attempt(key, now, window) <= limit

    def take_back(self, key: str, now: int, window: int) -> None:
        """Take back one attempt counted under *key* at *now* (it was not a guess: the right password or code).

        Only the window that attempt was counted in loses it (a window started since then is left alone),
        and a count never goes below zero. A counter back at zero is deleted, under the lock its update
        took: people who only sign in successfully leave no row behind.
        """
        row = RateLimitRow
        key = key[:255]
        with self.db.transaction() as session:
            if rowcount(session.execute(update(row).where(row.key == key, row.window_start <= now,
                                                          row.window_start > now - window, row.count > 0)
                                        .values(count=row.count - 1))):
                session.execute(delete(row).where(row.key == key, row.count == 0))

    # -- housekeeping ----------------------------------------------------------------------------
    def purge_expired(self, now: int, batch: int = PURGE_BATCH,
                      still_ours: StillOurs | None = None) -> dict[str, int]:
        """Delete expired codes, device flows, login states, sessions and rate-limit windows, in small batches.

        Each batch deletes at most *batch* rows in its own short transaction, found by an indexed
        range on the expiry (the rate limits, whose window start has no index, by a walk along the
        key), so no lock is held for long and the service's own writes get in between batches (a
        pause as long as the batch took leaves them at least half of the time). *still_ours* runs in
        each batch's transaction (the purge lease's renewal): when it says False the batch is undone
        and the purge stops, since another process now purges.
        """
        counts = dict.fromkeys(("codes", "device_flows", "login_states", "sessions", "rate_limits"), 0)
        try:
            # Used codes are kept a day after they expired, so that a late replay still revokes its tokens.
            for name, column, horizon in (("codes", AuthorizationCodeRow.expires_at, now - 86400),
                                          ("device_flows", DeviceFlowRow.expires_at, now),
                                          ("login_states", LoginStateRow.expires_at, now),
                                          ("sessions", SessionRow.expires_at, now)):
                counts[name] = purge_range(self.db, column, horizon, batch, still_ours)
            counts["rate_limits"] = self._purge_rate_limits(now - 86400, batch, still_ours)
        except LeaseLost:
            log.warning("purge stopped: another process took over the purge lease (deleted so far: %s)", counts)
        return counts

    def _purge_rate_limits(self, horizon: int, batch: int, still_ours: StillOurs | None) -> int:
        """Delete the counters whose window started before *horizon*, walking the table by key (leases kept)."""
        row = RateLimitRow

        def work(session: Session, after: str | None) -> tuple[int, str | None]:
            found = session.execute(select(row.key, row.window_start).where(row.key > (after or ""))
                                    .order_by(row.key).limit(batch)).all()
            old = [k for k, start in found if start < horizon and not k.startswith(LEASE_PREFIX)]
            deleted = rowcount(session.execute(delete(row).where(row.key.in_(old), row.window_start < horizon))) \
                if old else 0
            return deleted, found[-1][0] if len(found) == batch else None

        return batches(self.db, work, still_ours)

