"""Deleting expired rows in small batches, each its own short transaction: the purge of every store.

A purge of a million rows must never hold a lock for long while the service writes: each batch
deletes at most *batch* rows found by an indexed range, commits, and the next batch waits as long as
the last one took (at most :data:`MAX_PAUSE`), so the service's own writes get in between. A purge
runs under the purge lease (``lease.py``); *still_ours* renews it inside each batch's transaction,
and when it says False the batch is undone and :class:`LeaseLost` stops the purge.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, inspect, select
from sqlalchemy.orm import Session

from .engine import Database
from .results import rowcount

PURGE_BATCH = 1000  # rows per purge transaction
MAX_PAUSE = 0.1  # the longest pause between two purge batches, in seconds

StillOurs = Callable[[Session], bool]


class LeaseLost(Exception):
    """Another process holds the purge lease now: the batch in progress is undone and the purge stops."""


def batches(db: Database, work: Callable[[Session, Any], tuple[int, Any]], still_ours: StillOurs | None) -> int:
    """Run *work* one transaction per batch until it is done; the rows deleted.

    *work(session, position)* deletes one batch from *position* (None at first) and returns how
    many rows it deleted and where the next batch starts (None: done). The position moves only
    once the batch committed, so a batch run again after a conflict starts where it did.
    """
    def checked(session: Session, position: Any) -> tuple[int, Any]:
        result = work(session, position)
        if still_ours is not None and not still_ours(session):
            raise LeaseLost
        return result

    total, position, first = 0, None, True
    while first or position is not None:
        started = time.monotonic()
        deleted, position = db.atomic(functools.partial(checked, position=position))
        total, first = total + deleted, False
        if position is not None:
            time.sleep(min(time.monotonic() - started, MAX_PAUSE))
    return total


def purge_range(db: Database, column: Any, horizon: int, batch: int = PURGE_BATCH,
                still_ours: StillOurs | None = None) -> int:
    """Delete the rows whose indexed *column* is below *horizon*, oldest first, *batch* at a time.

    Each batch starts at the value where the last one ended rather than at the start of the index,
    which on MariaDB may still hold the entries of rows just deleted.
    """
    table = column.class_
    key = inspect(table).primary_key[0]

    def work(session: Session, floor: int | None) -> tuple[int, int | None]:
        found = session.execute(select(key, column).where(column >= (floor or 0), column < horizon)
                                .order_by(column).limit(batch)).all()
        if not found:
            return 0, None
        deleted = rowcount(session.execute(delete(table).where(key.in_([k for k, _ in found]), column < horizon)))
        # Nothing deleted from a full batch (the rows changed meanwhile): stop rather than find them again.
        return deleted, found[-1][1] if len(found) == batch and deleted else None

    return batches(db, work, still_ours)
