"""How many rows a DML statement touched, typed.

SQLAlchemy's ``Session.execute`` is typed to return ``Result`` for every statement, while an
UPDATE or DELETE really returns a ``CursorResult``, the class that has ``rowcount``. Single use of
codes and device flows depends on that count, so it is checked rather than cast.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import CursorResult, Result


def rowcount(result: Result[Any]) -> int:
    """Rows matched by the UPDATE or DELETE that gave *result*; refuse a result without a row count."""
    if not isinstance(result, CursorResult):
        raise TypeError(f"expected the result of an UPDATE or DELETE, got {type(result).__name__}")
    return result.rowcount
