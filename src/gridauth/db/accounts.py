"""Local accounts: passwords of registry users, as salted slow hashes (never in the CFG file)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update

from ..hashing import PASSWORD_ITERATIONS, PASSWORDS, hash_secret
from .engine import Database
from .models import LocalAccountRow, SessionRow
from .results import rowcount


class AccountStore:
    """Sets and reads local-account passwords (checked by :class:`~gridauth.hashing.PasswordChecker`)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def set_password(self, username: str, password: str, now: int) -> int:
        """Store a new salted PBKDF2 hash of *password* for *username* and end the user's SSO sessions.

        A new password is often an answer to a stolen one: a browser signed in with the old one must
        not stay signed in. Both happen in one transaction; the number of sessions ended is returned.
        """
        hashed = hash_secret(password, PASSWORD_ITERATIONS)
        with self.db.transaction() as session:
            session.merge(LocalAccountRow(username=username, password_hash=hashed, updated_at=now))
            # Ended as a logout ends one: revoked, and expired now, so that the purge's indexed range finds it.
            return rowcount(session.execute(update(SessionRow).where(
                SessionRow.username == username, SessionRow.revoked_at.is_(None), SessionRow.expires_at > now)
                .values(revoked_at=now, expires_at=now)))

    def password_hash(self, username: str) -> str | None:
        """The stored hash of *username*'s password, or None (no local password)."""
        with self.db.transaction() as session:
            row = session.get(LocalAccountRow, username)
            return row.password_hash if row else None

    def check_password(self, username: str, password: str) -> bool:
        """Whether *password* is *username*'s (False for an account without a password, after a dummy check)."""
        return PASSWORDS.verify_now(password, self.password_hash(username))

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
