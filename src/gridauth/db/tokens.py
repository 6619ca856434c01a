"""Grants (refresh tokens, stored as SHA-256 hashes) and access tokens (tracked by jti).

Each method is one short transaction. The rules of the refresh grant live in the oauth package;
this store only guarantees that what must change together changes together: recording a new
access token and revoking the older ones of the same grant happen in one transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import delete, or_, select, update

from ..hashing import token_digest
from .engine import Database
from .models import AccessTokenRow, GrantRow
from .results import rowcount


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


class TokenStore:
    """Reads and writes grants and access tokens."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- grants ----------------------------------------------------------------------------------
    def create_grant(self, grant: NewGrant, refresh_token: str | None) -> GrantRow:
        """Store a new grant whose refresh token is *refresh_token* (only its hash is kept; None: no refresh)."""
        row = GrantRow(id=uuid.uuid4().hex, refresh_token_hash=token_digest(refresh_token) if refresh_token else None,
                       client_id=grant.client_id, username=grant.username, group_name=grant.group, vo=grant.vo,
                       scope=grant.scope, auth_time=grant.auth_time, issued_at=grant.issued_at,
                       expires_at=grant.expires_at, revoked_at=None, idp=grant.idp)
        with self.db.transaction() as session:
            session.add(row)
        return row

    def grant_by_refresh_token(self, refresh_token: str) -> GrantRow | None:
        """The grant holding *refresh_token*, revoked or not, or None."""
        with self.db.transaction() as session:
            return session.scalar(select(GrantRow).where(GrantRow.refresh_token_hash == token_digest(refresh_token)))

    def grant(self, grant_id: str) -> GrantRow | None:
        """The grant with id *grant_id*, or None."""
        with self.db.transaction() as session:
            return session.get(GrantRow, grant_id)

    def revoke_grant(self, grant_id: str, now: int) -> None:
        """End a grant: its refresh token and every access token issued from it become inactive."""
        with self.db.transaction() as session:
            session.execute(update(GrantRow).where(GrantRow.id == grant_id, GrantRow.revoked_at.is_(None))
                            .values(revoked_at=now))
            session.execute(update(AccessTokenRow)
                            .where(AccessTokenRow.grant_id == grant_id, AccessTokenRow.revoked_at.is_(None))
                            .values(revoked_at=now))

    # -- access tokens ---------------------------------------------------------------------------
    def record_access_token(self, row: AccessTokenRow, revoke_older: bool = False) -> None:
        """Track a new access token; with *revoke_older*, revoke the grant's earlier ones in the same transaction."""
        with self.db.transaction() as session:
            if revoke_older and row.grant_id:
                # Lock the grant row: two refreshes of one grant at once must not both stay active.
                session.execute(select(GrantRow.id).where(GrantRow.id == row.grant_id).with_for_update())
                session.execute(update(AccessTokenRow)
                                .where(AccessTokenRow.grant_id == row.grant_id, AccessTokenRow.revoked_at.is_(None))
                                .values(revoked_at=row.issued_at))
            session.add(row)

    def access_token(self, jti: str) -> AccessTokenRow | None:
        """The tracked access token *jti*, or None."""
        with self.db.transaction() as session:
            return session.get(AccessTokenRow, jti)

    def revoke_access_token(self, jti: str, now: int) -> None:
        """Revoke one access token only."""
        with self.db.transaction() as session:
            session.execute(update(AccessTokenRow).where(AccessTokenRow.jti == jti, AccessTokenRow.revoked_at.is_(None))
                            .values(revoked_at=now))

    # -- housekeeping ----------------------------------------------------------------------------
    def purge_expired(self, now: int, keep_revoked_for: int = 0) -> dict[str, int]:
        """Delete expired access tokens and grants (and revoked ones older than *keep_revoked_for* s)."""
        horizon = now - keep_revoked_for
        with self.db.transaction() as session:
            tokens = rowcount(session.execute(delete(AccessTokenRow).where(or_(
                AccessTokenRow.expires_at < now, AccessTokenRow.revoked_at < horizon))))
            grants = rowcount(session.execute(delete(GrantRow).where(or_(
                GrantRow.expires_at < now, GrantRow.revoked_at < horizon))))
        return {"access_tokens": tokens, "grants": grants}
