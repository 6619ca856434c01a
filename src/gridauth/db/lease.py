"""A lease in the database: at most one process, of any host, does a given periodic job at a time.

The purge is the job it was made for: every worker process of every host has a 10-minute timer, but one
of them should purge per interval, and never two at once. The configuration's edit lock of every host
(``lease:config-edit``, ``db/config_versions.py``) is a lease too. The lease is a row of the ``rate_limits``
table (no table of its own, so no schema change) under a reserved key: rate-limit keys always start
with a kind (``login-ip:``, ``login-user:``, ``user-code:``), lease keys with ``lease:``. In that row,

- ``window_start`` is the time until which the lease is held (Unix seconds);
- ``count`` is the holder, a random number drawn at each acquisition (0: nobody is working now).

Taking the lease is one conditional UPDATE (or the INSERT of the first row, ignored on a duplicate),
so two processes racing for it cannot both win, whatever the host: on one server the row lock
decides, on a Galera cluster the loser's write set fails certification, ``Database.atomic`` runs it
again, and the condition is then false. While it works, the holder renews the lease inside each of
its own transactions (:meth:`Lease.renew`); a holder that died loses the lease when it runs out.

Why not a database lock (MariaDB's ``GET_LOCK``): it belongs to one connection, so it would pin a
pooled connection for the whole purge and be lost silently if that connection were recycled; it is
local to one node of a Galera cluster, so two hosts on two nodes would both get it; SQLite has no
such thing; and a lock only excludes, it does not say "somebody already did it this interval".
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import Insert, or_, update
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.orm import Session

from .engine import Database
from .models import RateLimitRow
from .results import rowcount

PREFIX = "lease:"


def dialect_insert(session: Session, table: Any) -> Any:
    """The INSERT of the session's dialect (SQLite or MySQL/MariaDB), which knows upserts."""
    if session.get_bind().dialect.name == "sqlite":
        return sqlite.insert(table)
    return mysql.insert(table)


def insert_unless_present(session: Session, statement: Insert) -> bool:
    """Run *statement* (an INSERT of the session's dialect), ignored if its key exists; True if it inserted."""
    if session.get_bind().dialect.name == "sqlite":
        done = session.execute(statement.on_conflict_do_nothing())  # type: ignore[attr-defined]
    else:
        done = session.execute(statement.prefix_with("IGNORE"))
    return rowcount(done) == 1


class Lease:
    """The lease named *name* in *db*, as seen by one would-be holder (a fresh random holder id)."""

    def __init__(self, db: Database, name: str) -> None:
        self.db = db
        self.key = PREFIX + name
        self.holder = secrets.randbelow(2**31 - 2) + 1  # an INT column; 0 means "nobody"
        self.held_until = 0

    def acquire(self, now: int, hold_for: int, due_only: bool = True) -> bool:
        """Take the lease for *hold_for* seconds; False when another holder keeps it.

        With *due_only* (the periodic job), the lease is free only once it ran out: the last holder
        finished less than an interval ago, or is still working. Without it (the operator's
        ``gridauth db purge``), a lease whose holder finished is free at once; one whose holder is
        still working is not.
        """
        row = RateLimitRow
        free = row.window_start <= now if due_only else or_(row.count == 0, row.window_start <= now)

        def work(session: Session) -> bool:
            taken = rowcount(session.execute(update(row).where(row.key == self.key, free)
                                             .values(window_start=now + hold_for, count=self.holder))) == 1
            return taken or insert_unless_present(session, dialect_insert(session, row).values(
                key=self.key, window_start=now + hold_for, count=self.holder))

        won = self.db.atomic(work)
        if won:
            self.held_until = now + hold_for
        return won

    def renew(self, session: Session, now: int, hold_for: int) -> bool:
        """Inside the caller's transaction: extend the lease, False if it is no longer ours (then stop)."""
        row = RateLimitRow
        kept = rowcount(session.execute(update(row).where(row.key == self.key, row.count == self.holder)
                                        .values(window_start=now + hold_for))) == 1
        if kept:
            self.held_until = now + hold_for
        return kept

    def release(self, now: int, next_after: int) -> None:
        """Mark the work done: nobody holds the lease, and the periodic job is due again *next_after* s from now."""
        row = RateLimitRow
        self.db.atomic(lambda session: session.execute(update(row).where(
            row.key == self.key, row.count == self.holder).values(count=0, window_start=now + next_after)))
