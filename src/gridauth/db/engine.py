"""The database engine: URL resolution, connection pooling, schema creation, and a worker pool.

Every query runs on the :class:`Database` thread pool, never on the IOLoop thread; transactions
are short (one request's work) and connections are pooled and pinged, so a database that went away
and came back is used again without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import DatabaseUnavailable, GridauthError
from .models import SCHEMA_VERSION, Base, Meta

log = logging.getLogger("gridauth.db")
T = TypeVar("T")


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for *url*: SQLite in WAL mode (directory created), or a pinged, recycled MySQL pool."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise GridauthError("not a database URL (e.g. sqlite:///path or mysql+mysqldb://user@host/db)") from None
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            path = Path(parsed.database)
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not path.exists():  # the database holds signing keys: readable by the service only
                path.touch(mode=0o600)
        engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": 10},
                               pool_pre_ping=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "mysql":
        query = dict(parsed.query)
        query.setdefault("charset", "utf8mb4")
        try:
            return create_engine(parsed.set(query=query), pool_pre_ping=True, pool_recycle=3600, pool_size=10,
                                 max_overflow=10, isolation_level="READ COMMITTED",
                                 connect_args={"connect_timeout": 5})
        except ImportError as exc:  # the driver is the optional extra, not a dependency of gridauth
            raise GridauthError(f"{shown}: no MySQL driver ({exc}): pip install 'gridauth[mysql]'") from None
    raise GridauthError(f"{shown}: unsupported database (use sqlite:/// or mysql+mysqldb://)")


class Database:
    """The engine, a session factory and the worker threads that run every query."""

    def __init__(self, url: str, workers: int = 8) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gridauth-db")

    @property
    def safe_url(self) -> str:
        """The URL with its password hidden, for logs."""
        return make_url(self.url).render_as_string(hide_password=True)

    def create_schema(self) -> None:
        """Create missing tables and record the schema version (safe to run from several processes)."""
        try:
            Base.metadata.create_all(self.engine, checkfirst=True)
        except OperationalError as exc:
            if "already exists" not in str(exc):  # another process created it a moment ago
                raise DatabaseUnavailable(f"{self.safe_url}: cannot create tables: {exc.orig}") from None
        with self.transaction() as session:
            row = session.get(Meta, "schema_version")
            if row is None:
                session.merge(Meta(name="schema_version", value=str(SCHEMA_VERSION)))
            elif int(row.value) > SCHEMA_VERSION:
                raise GridauthError(f"{self.safe_url}: schema version {row.value} is newer than this gridauth "
                                    f"({SCHEMA_VERSION}); upgrade gridauth")

    def ping(self) -> bool:
        """Whether the database answers right now."""
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except DBAPIError:
            return False

    def table_names(self) -> list[str]:
        """Names of the tables present (for diagnostics and tests)."""
        return inspect(self.engine).get_table_names()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error."""
        try:
            with self.sessions.begin() as session:
                yield session
        except (OperationalError, DBAPIError) as exc:
            if isinstance(exc, OperationalError) or exc.connection_invalidated:
                raise DatabaseUnavailable(f"database unavailable: {type(exc.orig).__name__}") from exc
            raise

    async def run(self, func: Callable[..., T], *args: object) -> T:
        """Run blocking *func* (which may query) on the worker threads and await its result."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, func, *args)

    def close(self) -> None:
        """Stop the workers and close pooled connections."""
        self.executor.shutdown(wait=True)
        self.engine.dispose()
