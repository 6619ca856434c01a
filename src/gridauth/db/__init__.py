"""Persistence: the SQLAlchemy engine (SQLite by default, MySQL/MariaDB in production) and small stores."""

from .engine import Database, DatabaseUnavailable

__all__ = ["Database", "DatabaseUnavailable"]
