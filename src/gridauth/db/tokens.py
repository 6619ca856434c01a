"""Grants (refresh tokens, stored as SHA-256 hashes) and the state that decides whether an access token is active.

Access tokens are not stored. An access token issued from a grant carries the grant's id and
generation in its ``jti``; it is active while the grant is not revoked and still at that generation.
Single access tokens revoked before they expire go to a small deny list. So the database holds one
row per live grant (plus the deny list), whatever the traffic.

Every state change is one transaction (``Database.atomic``): a refresh locks its grant, checks it
under the lock and bumps the generation; a code exchange marks its code and creates the grant
together; a replay of a code revokes what the first exchange created, whichever commits first.
Purges delete in small batches, each its own short transaction.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, case, insert, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from ..hashing import token_digest
from .batches import PURGE_BATCH, LeaseLost, StillOurs, purge_range
from .engine import Database
from .models import AuthorizationCodeRow, GrantRow, LegacyTokenRow, RevokedTokenRow
from .results import rowcount

log = logging.getLogger("gridauth.db")


@dataclass(frozen=True)
class NewGrant:
    """What is known when a user authorizes a client for one of their groups."""

    client_id: str
    username: str
    group: str
    vo: str
    scope: str
    auth_time: int
    issued_at: int
    expires_at: int
    idp: str | None = None
    # Set when the grant's id was chosen before the row exists (its first access token names it).
    id: str | None = None
    # The expiry of the first access token issued with the grant, if later than the grant's own.
    tokens_until: int = 0


@dataclass(frozen=True)
class Refresh:
    """The outcome of :meth:`TokenStore.refresh`: the grant as found (None: unknown) and whether it was renewed."""

    grant: GrantRow | None
    renewed: bool


@dataclass(frozen=True)
class TokenState:
    """What the database says of an access token: denied, or tied to grant *grant_id* (None: to no grant)."""

    denied: bool
    grant_id: str | None = None
    grant: GrantRow | None = None  # the row of *grant_id*, None when it is gone


def new_grant_id() -> str:
    """A fresh grant id (chosen before the grant is stored, so its first access token can name it)."""
    return uuid.uuid4().hex


def _later(column: InstrumentedAttribute[int], value: int) -> object:
    """``max(column, value)`` in SQL that SQLite and MariaDB both read."""
    return case((column < value, value), else_=column)


class TokenStore:
    """Reads and writes grants, the access-token deny list, and the tokens from before revision 0002."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- grants ----------------------------------------------------------------------------------
    @staticmethod
    def _grant_row(grant: NewGrant, refresh_token: str | None) -> GrantRow:
        return GrantRow(id=grant.id or new_grant_id(),
                        refresh_token_hash=token_digest(refresh_token) if refresh_token else None,
                        client_id=grant.client_id, username=grant.username, group_name=grant.group, vo=grant.vo,
                        scope=grant.scope, auth_time=grant.auth_time, issued_at=grant.issued_at,
                        expires_at=grant.expires_at, revoked_at=None, idp=grant.idp, generation=0,
                        last_used_at=None, purge_at=max(grant.expires_at, grant.tokens_until))

    def create_grant(self, grant: NewGrant, refresh_token: str | None) -> GrantRow:
        """Store a new grant whose refresh token is *refresh_token* (only its hash is kept; None: no refresh)."""
        row = self._grant_row(grant, refresh_token)

        def work(session: Session) -> None:
            session.add(row)
        self.db.atomic(work)
        return row

    def create_grant_from_code(self, code_hash: str, grant: NewGrant, refresh_token: str | None) -> GrantRow | None:
        """Link the code to a new grant and store the grant, in one transaction; None when the code was replayed.

        The link is a conditional update of the code's row, so it and a replay's
        :meth:`code_replayed` take the same row lock: if the replay commits first, no grant is
        created; if this commits first, the replay finds the grant and revokes it.
        """
        row = self._grant_row(grant, refresh_token)

        def work(session: Session) -> bool:
            linked = rowcount(session.execute(
                update(AuthorizationCodeRow)
                .where(AuthorizationCodeRow.code_hash == code_hash, AuthorizationCodeRow.grant_id.is_(None),
                       AuthorizationCodeRow.replayed_at.is_(None))
                .values(grant_id=row.id))) == 1
            if linked:
                session.add(row)
            return linked
        return row if self.db.atomic(work) else None

    def code_replayed(self, code_hash: str, now: int) -> None:
        """A second exchange of a code: mark it, and revoke the grant the first exchange created (one transaction)."""
        def work(session: Session) -> None:
            session.execute(update(AuthorizationCodeRow).where(AuthorizationCodeRow.code_hash == code_hash)
                            .values(replayed_at=now))
            grant_id = session.scalar(select(AuthorizationCodeRow.grant_id)
                                      .where(AuthorizationCodeRow.code_hash == code_hash))
            if grant_id:
                self._revoke(session, GrantRow.id == grant_id, now)
        self.db.atomic(work)

    def grant_by_refresh_token(self, refresh_token: str) -> GrantRow | None:
        """The grant holding *refresh_token*, revoked or not, or None."""
        with self.db.transaction() as session:
            return session.scalar(select(GrantRow).where(GrantRow.refresh_token_hash == token_digest(refresh_token)))

    def grant(self, grant_id: str) -> GrantRow | None:
        """The grant with id *grant_id*, or None."""
        with self.db.transaction() as session:
            return session.get(GrantRow, grant_id)

    def refresh(self, grant_id: str, now: int, token_expires_at: int) -> Refresh:
        """Renew grant *grant_id* (found by its refresh token's hash) for one more access token, in one transaction.

        The grant is locked (``FOR UPDATE``), checked under the lock (neither revoked nor expired),
        and its generation bumped, which ends every access token issued from it before; the row
        keeps until the new access token expires. The update repeats the checks in its ``WHERE``,
        so the outcome is exact on SQLite too, where the ``SELECT`` takes no lock. The returned
        grant is the row after the change (its new generation names the new access token).
        """
        def work(session: Session) -> Refresh:
            found = session.scalar(select(GrantRow).where(GrantRow.id == grant_id).with_for_update())
            if found is None or found.revoked_at is not None or found.expires_at <= now:
                return Refresh(found, False)
            renewed = rowcount(session.execute(
                update(GrantRow)
                .where(GrantRow.id == found.id, GrantRow.revoked_at.is_(None), GrantRow.expires_at > now)
                .values(generation=GrantRow.generation + 1, last_used_at=now,
                        purge_at=_later(GrantRow.purge_at, token_expires_at))
                .execution_options(synchronize_session=False))) == 1
            session.refresh(found)
            return Refresh(found, renewed)
        return self.db.atomic(work)

    def revoke_grant(self, grant_id: str, now: int) -> None:
        """End a grant: its refresh token and every access token issued from it become inactive."""
        self.db.atomic(lambda session: self._revoke(session, GrantRow.id == grant_id, now))

    def revoke_user_grants(self, username: str, now: int) -> int:
        """End every grant of *username* (a user removed, a compromised account); how many were live."""
        return self.db.atomic(lambda session: self._revoke(session, GrantRow.username == username, now))

    @staticmethod
    def _revoke(session: Session, which: ColumnElement[bool], now: int) -> int:
        # A revoked grant keeps nothing active: its row may go at the next purge.
        return rowcount(session.execute(update(GrantRow).where(which, GrantRow.revoked_at.is_(None))
                                        .values(revoked_at=now, purge_at=now)
                                        .execution_options(synchronize_session=False)))

    # -- access tokens ---------------------------------------------------------------------------
    def token_state(self, jti: str, grant_id: str | None, legacy: bool) -> TokenState:
        """The deny list's word on *jti*, and the grant it depends on (*grant_id*, or a legacy token's own).

        For a *legacy* token (issued before revision 0002, its ``jti`` names no grant), the grant is
        the one recorded at the upgrade; a legacy token not recorded then was not active then.
        """
        with self.db.transaction() as session:
            if session.get(RevokedTokenRow, jti) is not None:
                return TokenState(denied=True)
            if legacy:
                old = session.get(LegacyTokenRow, jti)
                if old is None:
                    return TokenState(denied=True)
                grant_id = old.grant_id
            return TokenState(denied=False, grant_id=grant_id,
                              grant=session.get(GrantRow, grant_id) if grant_id else None)

    def revoke_access_token(self, jti: str, expires_at: int) -> None:
        """Revoke one access token only: it joins the deny list until it expires (revoking twice is harmless)."""
        statement = (insert(RevokedTokenRow).values(jti=jti, expires_at=expires_at)
                     .prefix_with("OR IGNORE", dialect="sqlite").prefix_with("IGNORE", dialect="mysql"))
        self.db.atomic(lambda session: session.execute(statement))

    # -- housekeeping ----------------------------------------------------------------------------
    def purge_expired(self, now: int, batch: int = PURGE_BATCH, still_ours: StillOurs | None = None) -> dict[str, int]:
        """Delete what can no longer make a token active: grants past ``purge_at``, deny-list rows past expiry.

        In batches of *batch* rows on an indexed column (``batches.purge_range``), each its own short
        transaction renewing the purge lease (*still_ours*), so that a purge of a million rows never
        holds a lock for long while requests are served.
        """
        counts = dict.fromkeys(("grants", "revoked_tokens", "legacy_tokens"), 0)
        try:
            for name, column in (("grants", GrantRow.purge_at), ("revoked_tokens", RevokedTokenRow.expires_at),
                                 ("legacy_tokens", LegacyTokenRow.expires_at)):
                counts[name] = purge_range(self.db, column, now, batch, still_ours)
        except LeaseLost:
            log.warning("purge stopped: another process took over the purge lease (deleted so far: %s)", counts)
        return counts

