"""Local accounts: passwords of registry users, as salted slow hashes (never in the CFG file)."""

from __future__ import annotations

import functools
from collections.abc import Iterable

from sqlalchemy import select

from ..hashing import PASSWORD_ITERATIONS, hash_secret, verify_secret
from .engine import Database
from .models import LocalAccountRow


class AccountStore:
    """Sets and checks local-account passwords."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def set_password(self, username: str, password: str, now: int) -> None:
        """Store a new salted PBKDF2 hash of *password* for *username*."""
        hashed = hash_secret(password, PASSWORD_ITERATIONS)
        with self.db.transaction() as session:
            session.merge(LocalAccountRow(username=username, password_hash=hashed, updated_at=now))

    def check_password(self, username: str, password: str) -> bool:
        """Whether *password* is *username*'s (False for an account without a password)."""
        with self.db.transaction() as session:
            row = session.get(LocalAccountRow, username)
            hashed = row.password_hash if row else None
        if hashed is None:
            # Spend the same time as a real check, so that timing does not tell which accounts exist.
            verify_secret(password, _dummy_hash())
            return False
        return verify_secret(password, hashed)

    def any_password(self, usernames: Iterable[str]) -> bool:
        """Whether at least one of *usernames* has a local password (a first run has none: say how to set one).

        Asked with the registry's users, so that passwords left over from removed users do not count.
        """
        names = list(usernames)
        with self.db.transaction() as session:
            for start in range(0, len(names), 500):  # bounded IN lists, whatever the size of the registry
                chunk = names[start:start + 500]
                found = session.scalar(select(LocalAccountRow.username)
                                       .where(LocalAccountRow.username.in_(chunk)).limit(1))
                if found is not None:
                    return True
        return False


@functools.cache
def _dummy_hash() -> str:
    return hash_secret("no such account", PASSWORD_ITERATIONS)
