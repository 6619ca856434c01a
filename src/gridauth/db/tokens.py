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
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import ColumnElement, Select, Update, and_, bindparam, case, func, insert, literal, select, update
from sqlalchemy.orm import Session

from ..hashing import token_digest
from .awaited import AwaitedWrites
from .batches import PURGE_BATCH, LeaseLost, StillOurs, purge_range
from .engine import Database, HotConnection, HotResult
from .models import AuthorizationCodeRow, DeviceFlowRow, GrantRow, LegacyTokenRow, RevokedTokenRow
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
    # The DPoP key the refresh token is bound to (RFC 7638 thumbprint), or None.
    dpop_jkt: str | None = None
    # The client's address at the token request (as the access log shows it), or None.
    address: str | None = None
    # A token exchange's grant: the grant of its subject token, and the ``act`` claim (JSON) of its tokens.
    parent_id: str | None = None
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class Grant:
    """A grant as read to decide a request: a plain row, not an ORM object (read by every refresh and introspection)."""

    id: str
    client_id: str
    username: str
    group_name: str
    vo: str
    scope: str
    auth_time: int
    issued_at: int
    expires_at: int
    revoked_at: int | None
    idp: str | None
    generation: int
    dpop_jkt: str | None = None
    parent_id: str | None = None
    actor: str | None = None

    def live(self, now: int) -> bool:
        """Neither revoked nor past its lifetime at *now*."""
        return self.revoked_at is None and self.expires_at > now

    def at_generation(self, generation: int) -> Grant:
        """This grant at *generation* (a refresh's renewal), built field by field: every refresh makes one, and
        ``dataclasses.replace`` cost 6 µs here against 2.6 (its field loop and keyword call)."""
        return Grant(self.id, self.client_id, self.username, self.group_name, self.vo, self.scope, self.auth_time,
                     self.issued_at, self.expires_at, self.revoked_at, self.idp, generation, self.dpop_jkt,
                     self.parent_id, self.actor)


@dataclass(frozen=True)
class Renewal:
    """A refresh's renewal of *grant* by the *refresh_token* presented, at *now* (:meth:`TokenStore.refresh`).

    The row is kept until *token_expires_at*, when the new access token expires; *address* is the client's.
    """

    grant: Grant
    refresh_token: str
    now: int
    token_expires_at: int
    address: str | None = None

    def params(self) -> dict[str, object]:
        """The renewal statement's parameters."""
        return {"grant_id": self.grant.id, "digest": token_digest(self.refresh_token), "now": self.now,
                "until": self.token_expires_at, "address": stored_address(self.address)}

    def renewed(self, generation: int | None) -> Grant | None:
        """The grant at its new *generation*, or None when the statement renewed nothing."""
        return self.grant.at_generation(generation) if generation is not None else None


_GRANT_COLUMNS = [GrantRow.__table__.c[field.name] for field in fields(Grant)]
_GRANT_BY_HASH = select(*_GRANT_COLUMNS).where(GrantRow.refresh_token_hash == bindparam("digest"))
_GRANT_BY_ID = select(*_GRANT_COLUMNS).where(GrantRow.id == bindparam("grant_id"))
_DENIED = select(RevokedTokenRow.jti).where(RevokedTokenRow.jti == bindparam("jti"))
_LEGACY_GRANT = select(LegacyTokenRow.grant_id).where(LegacyTokenRow.jti == bindparam("jti"))
# An access token's whole state in one statement (one round trip): whether its jti is denied, and its
# grant's row (all NULL when there is none), joined to a one-row table so that a row comes back either way.
_ONE_ROW = select(literal(1).label("one")).subquery()
_TOKEN_STATE = (select(_DENIED.scalar_subquery().label("denied"), *_GRANT_COLUMNS)
                .select_from(_ONE_ROW.outerjoin(GrantRow, GrantRow.id == bindparam("grant_id"))))
_LIVE = (GrantRow.id == bindparam("grant_id"), GrantRow.revoked_at.is_(None), GrantRow.expires_at > bindparam("now"))
# A refresh renews the grant only by the token presented: for a token that carries its grant's fields
# (oauth/carried.py), this is what makes those fields trustworthy.
_HOLDING = GrantRow.refresh_token_hash == bindparam("digest")
_LATER_PURGE = case((GrantRow.purge_at < bindparam("until"), bindparam("until")), else_=GrantRow.purge_at)
# The refresh's one statement, which also hands back the new generation: SQLite returns it
# (``RETURNING``); MySQL/MariaDB, which cannot return from an UPDATE, remembers it as the
# connection's LAST_INSERT_ID, which the driver reads with the statement's result (no round trip).
# The same statement records the grant's last use (time and address) for the administrators' listing.
_LAST_USE: dict[str, Any] = {"last_used_at": bindparam("now"), "last_address": bindparam("address")}
_RENEW_RETURNING = (update(GrantRow).where(*_LIVE, _HOLDING)
                    .values(generation=GrantRow.generation + 1, purge_at=_LATER_PURGE, **_LAST_USE)
                    .returning(GrantRow.generation))
_RENEW_MYSQL = (update(GrantRow).where(*_LIVE, _HOLDING)
                .values(generation=func.last_insert_id(GrantRow.generation + 1), purge_at=_LATER_PURGE, **_LAST_USE))
ADDRESS_LENGTH = 64  # the width of the address columns: a longer (forwarded) address is cut


def stored_address(address: str | None) -> str | None:
    """*address* as the address columns keep it (cut to their width; None or empty: not known)."""
    return address[:ADDRESS_LENGTH] if address else None


@dataclass(frozen=True)
class TokenState:
    """What the database says of an access token: denied, or tied to grant *grant_id* (None: to no grant)."""

    denied: bool
    grant_id: str | None = None
    grant: Grant | None = None  # the row of *grant_id*, None when it is gone


def new_grant_id() -> str:
    """A fresh grant id (chosen before the grant is stored, so its first access token can name it)."""
    return uuid.uuid4().hex


def _one_grant(connection: HotConnection, query: Select[Any], params: dict[str, str]) -> Grant | None:
    row = connection.first(query, params)
    return Grant(*row) if row is not None else None


def revoke_grants(session: Session, which: ColumnElement[bool], now: int) -> int:
    """Revoke the live grants *which* selects, then the grants exchanged from them, generation by generation.

    In *session*'s transaction. A revoked grant keeps nothing active (its refresh token and every
    access token from it end), so its row may go at the next purge. The children are found by
    locking reads (``FOR UPDATE``), which see an exchange committed while this transaction waited
    for the parent's lock. Returns how many of *which* were live.
    """
    def revoke(condition: ColumnElement[bool]) -> int:
        return rowcount(session.execute(update(GrantRow).where(condition, GrantRow.revoked_at.is_(None))
                                        .values(revoked_at=now, purge_at=now)
                                        .execution_options(synchronize_session=False)))
    count = revoke(which)
    parents = list(session.scalars(select(GrantRow.id).where(which, GrantRow.revoked_at == now)))
    seen = set(parents)
    while parents:
        children = [child for child in session.scalars(
            select(GrantRow.id).where(GrantRow.parent_id.in_(parents)).with_for_update()) if child not in seen]
        if children:
            revoke(GrantRow.id.in_(children))
        seen.update(children)
        parents = children
    return count


def _renew(db: Database, params: dict[str, object]) -> int | None:
    """The refresh's one statement: bump the live grant's generation, giving the new one (None: not live)."""
    if db.hot_engine.dialect.name == "mysql":
        return _mysql_generation(db.hot_write(_RENEW_MYSQL, params))
    rows = db.hot_write(_RENEW_RETURNING, params).rows
    return int(rows[0][0]) if rows else None


def _mysql_generation(result: HotResult) -> int | None:
    """The new generation MySQL's renewal left in ``LAST_INSERT_ID()``; None when it matched no live grant."""
    return int(result.lastrowid) if result.rowcount == 1 and result.lastrowid is not None else None


class TokenStore:
    """Reads and writes grants, the access-token deny list, and the tokens from before revision 0002."""

    def __init__(self, db: Database) -> None:
        self.db = db
        # On MySQL/MariaDB the renewal may be awaited on the IOLoop (:meth:`refresh_awaited`).
        self.awaited = AwaitedWrites(db) if db.hot_engine.dialect.name == "mysql" else None

    # -- grants ----------------------------------------------------------------------------------
    @staticmethod
    def _grant_row(grant: NewGrant, refresh_token: str | None) -> GrantRow:
        return GrantRow(id=grant.id or new_grant_id(),
                        refresh_token_hash=token_digest(refresh_token) if refresh_token else None,
                        client_id=grant.client_id, username=grant.username, group_name=grant.group, vo=grant.vo,
                        scope=grant.scope, auth_time=grant.auth_time, issued_at=grant.issued_at,
                        expires_at=grant.expires_at, revoked_at=None, idp=grant.idp, generation=0,
                        last_used_at=grant.issued_at, last_address=stored_address(grant.address),
                        purge_at=max(grant.expires_at, grant.tokens_until), dpop_jkt=grant.dpop_jkt,
                        parent_id=grant.parent_id, actor=grant.actor)

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
        code = AuthorizationCodeRow
        return self._create_grant_claiming(
            lambda grant_id: update(code).where(code.code_hash == code_hash, code.grant_id.is_(None),
                                                code.replayed_at.is_(None)).values(grant_id=grant_id),
            grant, refresh_token)

    def create_grant_from_device_flow(self, device_code_hash: str, now: int, grant: NewGrant,
                                      refresh_token: str | None) -> GrantRow | None:
        """Consume the approved device flow and store its grant, in one transaction; None when it was consumed already.

        Of parallel polls of one approved flow, exactly one consumes it (a conditional update); and
        a failure before the grant is stored leaves the flow approved, so the next poll gets the tokens.
        """
        flow = DeviceFlowRow
        return self._create_grant_claiming(
            lambda _: update(flow).where(flow.device_code_hash == device_code_hash, flow.status == "approved",
                                         flow.expires_at > now).values(status="consumed"),
            grant, refresh_token)

    def _create_grant_claiming(self, claim: Callable[[str], Update], grant: NewGrant,
                               refresh_token: str | None) -> GrantRow | None:
        """Store the grant only if the single-use claim (*claim* of the grant's id, a conditional UPDATE) wins."""
        row = self._grant_row(grant, refresh_token)

        def work(session: Session) -> bool:
            claimed = rowcount(session.execute(claim(row.id))) == 1
            if claimed:
                session.add(row)
            return claimed
        return row if self.db.atomic(work) else None

    def create_exchanged_grant(self, grant: NewGrant, refresh_token: str, now: int) -> GrantRow | None:
        """Store the grant of a token exchange, if its parent grant (``grant.parent_id``) is live; else None.

        The parent is claimed by a conditional UPDATE in the same transaction, which takes its row
        lock: a revocation of the parent that commits first leaves no grant made; one that comes
        after finds the new grant among the parent's children and revokes it too (:func:`revoke_grants`).
        """
        parent = and_(GrantRow.id == grant.parent_id, GrantRow.revoked_at.is_(None), GrantRow.expires_at > now)
        return self._create_grant_claiming(
            lambda _: update(GrantRow).where(parent).values(last_used_at=now), grant, refresh_token)

    def code_replayed(self, code_hash: str, now: int) -> None:
        """A second exchange of a code: mark it, and revoke the grant the first exchange created (one transaction)."""
        def work(session: Session) -> None:
            session.execute(update(AuthorizationCodeRow).where(AuthorizationCodeRow.code_hash == code_hash)
                            .values(replayed_at=now))
            grant_id = session.scalar(select(AuthorizationCodeRow.grant_id)
                                      .where(AuthorizationCodeRow.code_hash == code_hash))
            if grant_id:
                revoke_grants(session, GrantRow.id == grant_id, now)
        self.db.atomic(work)

    def grant_by_refresh_token(self, refresh_token: str) -> Grant | None:
        """The grant holding *refresh_token*, revoked or not, or None."""
        return self.db.hot_read(lambda connection: _one_grant(connection, _GRANT_BY_HASH,
                                                          {"digest": token_digest(refresh_token)}))

    def grant(self, grant_id: str) -> Grant | None:
        """The grant with id *grant_id*, or None."""
        return self.db.hot_read(lambda connection: _one_grant(connection, _GRANT_BY_ID, {"grant_id": grant_id}))

    def refresh(self, renewal: Renewal) -> Grant | None:
        """Renew *renewal*'s grant, presented with its refresh token, for one more access token: one statement,
        committed.

        The UPDATE bumps the generation only where the grant (by id) holds the hash of the refresh
        token presented and is neither revoked nor expired, so the check and the change are one
        statement under the row's write lock (on SQLite as on MariaDB and Galera, where a
        conflicting commit on another node fails certification and the transaction is run again),
        which also gives the new generation back. Bumping the generation ends every access token
        issued from the grant before; the row keeps until the new access token expires. Returns
        the grant at its new generation, or None when nothing was renewed: no such grant holds the
        token, or it is revoked or expired. The same statement records the use: the renewal's time
        and the client's address.
        """
        return renewal.renewed(_renew(self.db, renewal.params()))

    async def refresh_awaited(self, renewal: Renewal) -> Grant | None:
        """:meth:`refresh`, its statement sent from the IOLoop and its answer awaited there (MySQL/MariaDB only).

        No thread waits on the server's round trip (``awaited.py``); the statement, and so the outcome, are
        :meth:`refresh`'s.
        """
        assert self.awaited is not None, "only MySQL/MariaDB renewals are awaited on the loop"
        return renewal.renewed(_mysql_generation(await self.awaited.write(_RENEW_MYSQL, renewal.params())))

    def revoke_grant(self, grant_id: str, now: int) -> None:
        """End a grant: its refresh token and every access token issued from it become inactive."""
        self.db.atomic(lambda session: revoke_grants(session, GrantRow.id == grant_id, now))

    def revoke_user_grants(self, username: str, now: int) -> int:
        """End every grant of *username* (a user removed, a compromised account); how many were live."""
        return self.db.atomic(lambda session: revoke_grants(session, GrantRow.username == username, now))

    def revoke_client_user_grants(self, client_id: str, username: str, now: int) -> int:
        """End every grant of *username* from *client_id* (one of their refresh tokens looks stolen); how many."""
        return self.db.atomic(lambda session: revoke_grants(
            session, and_(GrantRow.client_id == client_id, GrantRow.username == username), now))

    # -- access tokens ---------------------------------------------------------------------------
    def token_state(self, jti: str, grant_id: str | None, legacy: bool) -> TokenState:
        """The deny list's word on *jti*, and the grant it depends on (*grant_id*, or a legacy token's own).

        For a *legacy* token (issued before revision 0002, its ``jti`` names no grant), the grant is
        the one recorded at the upgrade; a legacy token not recorded then was not active then.
        """
        def read(connection: HotConnection) -> TokenState:
            named = grant_id
            if legacy:
                old = connection.first(_LEGACY_GRANT, {"jti": jti})
                if old is None:
                    return TokenState(denied=True)
                named = old[0]
            row = connection.execute(_TOKEN_STATE, {"jti": jti, "grant_id": named}).rows[0]  # always one row
            if row[0] is not None:
                return TokenState(denied=True)
            grant = Grant(*row[1:]) if row[1] is not None else None
            return TokenState(denied=False, grant_id=named, grant=grant if named else None)
        return self.db.hot_read(read)

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

