"""Persistence: the SQLAlchemy engine (SQLite by default, MySQL/MariaDB in production) and small stores."""

from .engine import Database

__all__ = ["Database"]
