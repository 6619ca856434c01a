"""Signing keys shared through the database, so every process and host signs and verifies alike."""

from __future__ import annotations

from sqlalchemy import func, or_, select, update

from .engine import Database
from .models import SigningKeyRow


class KeyStore:
    """Reads and writes the signing keys."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def published(self, now: int) -> list[SigningKeyRow]:
        """Keys still needed: the current ones and retired ones whose tokens may not have expired; newest first."""
        with self.db.transaction() as session:
            rows = session.scalars(select(SigningKeyRow).where(or_(
                SigningKeyRow.publish_until.is_(None), SigningKeyRow.publish_until >= now)))
            return sorted(rows, key=lambda r: (r.seq, r.created_at, r.kid), reverse=True)

    def add(self, row: SigningKeyRow, retire_others_until: int | None) -> None:
        """Add *row* as the newest key; older current keys stay published until *retire_others_until*."""
        with self.db.transaction() as session:
            row.seq = (session.scalar(select(func.max(SigningKeyRow.seq))) or 0) + 1
            if retire_others_until is not None:
                session.execute(update(SigningKeyRow).where(SigningKeyRow.publish_until.is_(None))
                                .values(publish_until=retire_others_until))
            session.add(row)
