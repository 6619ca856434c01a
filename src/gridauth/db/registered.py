"""Clients registered at ``/register`` (RFC 7591 / 7592): one row each, read by primary key, purged when idle.

The secret and the registration access token are stored as hashes only (``hashing``). A client's
``expires_at`` is the end of its idle time: a use moves it forward, but at most once per
:data:`TOUCH_INTERVAL` (one conditional UPDATE), so that a client polling the token endpoint does
not write on every request. The purge deletes the rows whose idle time has passed, in batches.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from .batches import PURGE_BATCH, LeaseLost, StillOurs, purge_range
from .engine import Database
from .models import RegisteredClientRow
from .results import rowcount

log = logging.getLogger("gridauth.db")
TOUCH_INTERVAL = 3600  # seconds: a used client's idle time is renewed at most this often


@dataclass(frozen=True, slots=True)
class RegisteredClient:
    """A registered client as read: its metadata (RFC 7591 §2), owner, allowed groups and life."""

    client_id: str
    client_secret_hash: str | None
    registration_token_hash: str
    owner: str | None
    metadata: dict[str, Any]
    groups: tuple[str, ...] | None
    issued_at: int
    last_used_at: int
    expires_at: int

    @classmethod
    def of(cls, row: Any) -> RegisteredClient:
        """The plain view of a row (ORM object or Core row)."""
        groups = json.loads(row.groups) if row.groups else None
        return cls(client_id=row.client_id, client_secret_hash=row.client_secret_hash,
                   registration_token_hash=row.registration_token_hash, owner=row.owner,
                   metadata=json.loads(row.metadata_json), groups=tuple(groups) if groups is not None else None,
                   issued_at=row.issued_at, last_used_at=row.last_used_at, expires_at=row.expires_at)


class RegisteredClientStore:
    """Adds, reads, changes, renews and purges registered clients; every change one short transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, client: RegisteredClient) -> None:
        """Store a newly registered client (its id is fresh and random: no conflict to expect)."""
        with self.db.transaction() as session:
            session.add(RegisteredClientRow(
                client_id=client.client_id, client_secret_hash=client.client_secret_hash,
                registration_token_hash=client.registration_token_hash, owner=client.owner,
                metadata_json=json.dumps(client.metadata, sort_keys=True),
                groups=json.dumps(list(client.groups)) if client.groups is not None else None,
                issued_at=client.issued_at, last_used_at=client.last_used_at, expires_at=client.expires_at))

    def get(self, client_id: str) -> RegisteredClient | None:
        """The client registered as *client_id*, or None (one primary-key read)."""
        def work(conn: Connection) -> RegisteredClient | None:
            row = conn.execute(select(RegisteredClientRow.__table__)
                               .where(RegisteredClientRow.client_id == client_id)).first()
            return RegisteredClient.of(row) if row is not None else None
        return self.db.read(work)

    def all(self) -> list[RegisteredClient]:
        """Every registered client, by owner then id (for the administrators' list)."""
        def work(conn: Connection) -> list[RegisteredClient]:
            rows = conn.execute(select(RegisteredClientRow.__table__)
                                .order_by(RegisteredClientRow.owner, RegisteredClientRow.client_id))
            return [RegisteredClient.of(row) for row in rows]
        return self.db.read(work)

    def change(self, client_id: str, metadata: dict[str, Any], now: int, idle: int) -> bool:
        """Replace a client's metadata (RFC 7592 §2.2) and renew its idle time; False when it is gone."""
        return self._update(client_id, metadata_json=json.dumps(metadata, sort_keys=True), last_used_at=now,
                            expires_at=now + idle)

    def set_groups(self, client_id: str, groups: tuple[str, ...] | None) -> bool:
        """Let any member of *groups* use the client (None: its owner only again); False when it is unknown."""
        return self._update(client_id, groups=json.dumps(list(groups)) if groups is not None else None)

    def _update(self, client_id: str, **values: Any) -> bool:
        with self.db.transaction() as session:
            return rowcount(session.execute(update(RegisteredClientRow)
                                            .where(RegisteredClientRow.client_id == client_id)
                                            .values(**values))) == 1

    def touch(self, client_id: str, now: int, idle: int) -> None:
        """Renew a used client's idle time, at most once per :data:`TOUCH_INTERVAL` (a no-op UPDATE otherwise)."""
        with self.db.transaction() as session:
            session.execute(update(RegisteredClientRow)
                            .where(RegisteredClientRow.client_id == client_id,
                                   RegisteredClientRow.last_used_at < now - TOUCH_INTERVAL,
                                   RegisteredClientRow.expires_at > now)
                            .values(last_used_at=now, expires_at=now + idle))

    def remove(self, client_id: str) -> bool:
        """Delete a registered client (RFC 7592 §2.3, or an administrator); False when it was not there."""
        with self.db.transaction() as session:
            return rowcount(session.execute(delete(RegisteredClientRow)
                                            .where(RegisteredClientRow.client_id == client_id))) == 1

    def purge_expired(self, now: int, batch: int = PURGE_BATCH, still_ours: StillOurs | None = None) -> dict[str, int]:
        """Delete the clients idle for longer than their idle time, in batches under the purge lease."""
        try:
            return {"registered_clients": purge_range(self.db, RegisteredClientRow.expires_at, now, batch,
                                                      still_ours)}
        except LeaseLost:
            log.warning("purge stopped: another process took over the purge lease")
            return {"registered_clients": 0}
