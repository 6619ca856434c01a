"""The database engine: URL resolution, connection pooling, error translation, and a worker pool.

Every query runs on the :class:`Database` thread pool, never on the IOLoop thread (a refresh's renewal
on MySQL/MariaDB is sent from the IOLoop and awaited without blocking it: ``awaited.py``); transactions
are short (one request's work) and connections are pooled, and pinged after an idle second, so a
database that went away and came back is used again without a restart. The schema itself is
Alembic's (``db/schema.py``).

Every query and connection attempt is bounded: MySQL/MariaDB connections have connect, read and
write timeouts (:data:`CONNECT_TIMEOUT`, :data:`QUERY_TIMEOUT`), SQLite waits at most
:data:`QUERY_TIMEOUT` for its lock, and after a query that timed out the :class:`OutageGate` makes
the next transactions fail at once for a moment (``db/outage.py``), so a hung database gives quick
503s rather than hung requests. ``/health`` pings on a thread of its own with a deadline
(:meth:`Database.answers`). Commands that may legitimately run long statements (``gridauth db
upgrade`` altering a large table) open the database with ``query_timeout=None``.

The hottest statements (a refresh's lookup and renewal, an introspection's reads) skip SQLAlchemy's
per-statement machinery: :meth:`Database.hot_read` and :meth:`Database.hot_write` run Core
statements compiled once per dialect (:class:`HotStatement`) with a plain cursor on a pool of their
own whose connections autocommit (each is one statement, its own transaction: no COMMIT or ROLLBACK
round trip; on SQLite, one connection per process taken in turn), with the same gate, error
translation, invalidation of a dead connection and conflict retry as the rest.

Errors are translated in one place (:func:`translate`): a missing table or column is a
:class:`SchemaMismatch` (the code is newer than the database: run ``gridauth db upgrade``), any other
operational error a :class:`DatabaseUnavailable` (an outage: try again shortly), except data the
server refused (``MYSQL_DATA_ERRORS``), a bug like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Dialect, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql.base import Executable

from ..errors import DatabaseUnavailable, GridauthError, SchemaMismatch
from .outage import OutageGate
from .workers import WorkerThreads

log = logging.getLogger("gridauth.db")
T = TypeVar("T")
S = TypeVar("S")


# Bounds of every database call of a serving process, in seconds (see the module's docstring).
CONNECT_TIMEOUT = 5
QUERY_TIMEOUT = 5
UNBOUNDED_WAIT = 600  # SQLite's lock wait without a query timeout (a command's): long, but not for ever
# After a query that failed this slowly, transactions fail at once for OUTAGE_HOLD seconds (one probe then).
OUTAGE_HOLD = 2.0
# What /health waits for a ping before it says "degraded".
HEALTH_TIMEOUT = 1.5


def _sqlite_pragmas(busy_ms: int) -> Callable[..., None]:
    def pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms:d}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
    return pragmas


# A pooled MySQL connection idle for longer than this is pinged before use. A busy pool's
# connections are used again within milliseconds: pinging each checkout (SQLAlchemy's pre-ping)
# cost a round trip per query; a connection that died under load fails its request (a 503) and
# SQLAlchemy then replaces every pooled connection, so only the requests in flight are lost.
PING_AFTER_IDLE = 1.0


def _note_checkin(_dbapi_conn, record) -> None:  # type: ignore[no-untyped-def]
    record.info["checked_in"] = time.monotonic()


def _ping_if_idle(dbapi_conn, record, _proxy) -> None:  # type: ignore[no-untyped-def]
    if time.monotonic() - record.info.get("checked_in", 0.0) <= PING_AFTER_IDLE:
        return
    try:
        dbapi_conn.ping()
    except Exception as exc:  # any driver error: the pool opens a new connection instead
        raise DisconnectionError(f"pooled connection is dead: {exc}") from exc


# MySQL/MariaDB error numbers of a schema that lacks what the code uses: unknown column, no such table.
MYSQL_SCHEMA_ERRORS = {1054, 1146}
SQLITE_SCHEMA_ERRORS = ("no such table", "no such column", "has no column named")
# A transaction that lost a race, and is safe to run again from the start: a deadlock, which is also
# how a Galera cluster reports a write set that failed certification at commit, and a lock wait
# that timed out.
MYSQL_CONFLICT_ERRORS = {1213, 1205}
# Statements whose data the server refused: a NULL in a NOT NULL column, a value of the wrong type, out
# of range or too long, a column without a default left out. The server is fine; the statement is a
# bug. mysqlclient raises some of them as OperationalError (1366 always, 1048 before 2.2), which would
# otherwise read as an outage and close the gate for every request.
MYSQL_DATA_ERRORS = {1048, 1264, 1265, 1292, 1364, 1366, 1406}
CONFLICT_ATTEMPTS = 4
# Worker threads per process. SQLite lets one writer in at a time: more threads only queue on its
# lock (8 of them gave refreshes a p99 of 140 ms, 2 give 47 ms at the same throughput, and reads
# still overlap a write); a database server serves several connections at once.
SQLITE_WORKERS = 2
SERVER_WORKERS = 8
# MySQL/MariaDB connections per process: the transactions' pool, and the hot statements' (one per worker).
MAIN_POOL: dict[str, object] = {"pool_size": 10, "max_overflow": 10, "isolation_level": "READ COMMITTED"}
HOT_POOL: dict[str, object] = {"pool_size": SERVER_WORKERS, "max_overflow": 2, "isolation_level": "AUTOCOMMIT"}
# SQLite's hot statements share one connection per process, taken in turn (a second worker waits for
# it in the pool's queue rather than in SQLite's lock): a connection empties its page cache whenever
# another connection wrote since its last statement, and a refresh's UPDATE cost 34 µs on a connection
# used alone against 45-53 µs on connections taken in turn (issue 12).
SQLITE_HOT_POOL: dict[str, object] = {"pool_size": 1, "max_overflow": 0}
# Each autocommitted statement still reads as the transactions do (no gap locks, the latest commit).
READ_COMMITTED = "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"


def make_engine(url: str, create: bool = True, query_timeout: int | None = QUERY_TIMEOUT,
                autocommit: bool = False) -> Engine:
    """An engine for *url*: SQLite in WAL mode, or a recycled MySQL pool whose idle connections are pinged; every
    wait bounded.

    With *autocommit*, its connections commit each statement as it completes (set once per
    connection): the pool of the single-statement hot paths (:meth:`Database.hot_write`), which then
    need no COMMIT or ROLLBACK, a round trip each on MySQL.

    *query_timeout* bounds each read and write of a MySQL connection and SQLite's lock wait (None:
    no read or write timeout, for commands that may alter large tables). With *create* (the commands
    that initialise a database, and ``serve``), a missing SQLite file is created with its directory;
    without it, a missing file is refused, so a command aimed at the wrong path says so instead of
    leaving an empty database behind.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise GridauthError("not a database URL (e.g. sqlite:///path or mysql+mysqldb://user@host/db)") from None
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        on_file = bool(parsed.database) and parsed.database != ":memory:"
        if on_file:
            path = Path(str(parsed.database))
            if not create and not path.exists():
                raise SchemaMismatch(f"{shown}: no such database file; create it with "
                                     f"`gridauth db init --db {shown}`")
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not path.exists():  # the database holds signing keys: readable by the service only
                path.touch(mode=0o600)
        # No pre-ping: a file does not drop its connections, and a ping per checkout cost 9% of a refresh.
        wait = query_timeout or UNBOUNDED_WAIT
        hot: dict[str, object] = {"isolation_level": "AUTOCOMMIT", "pool_reset_on_return": None} if autocommit else {}
        if autocommit and on_file:
            hot.update(SQLITE_HOT_POOL, pool_timeout=wait)
        engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": wait}, **hot)
        event.listen(engine, "connect", _sqlite_pragmas(wait * 1000))
        return engine
    if parsed.get_backend_name() == "mysql":
        query = dict(parsed.query)
        query.setdefault("charset", "utf8mb4")
        try:
            # No reset on return: every use ends its transaction itself (``begin()`` commits or rolls
            # back, ``connect()`` rolls back on close), so the pool's extra ROLLBACK was a wasted round trip.
            engine = create_engine(parsed.set(query=query), pool_recycle=3600, pool_reset_on_return=None,
                                   **(HOT_POOL if autocommit else MAIN_POOL),
                                   connect_args=mysql_timeouts(query_timeout, READ_COMMITTED if autocommit else None))
        except ImportError as exc:  # the driver is the optional extra, not a dependency of gridauth
            raise GridauthError(f"{shown}: no MySQL driver ({exc}): pip install 'gridauth[mysql]'") from None
        event.listen(engine, "checkin", _note_checkin)
        event.listen(engine, "checkout", _ping_if_idle)
        return engine
    raise GridauthError(f"{shown}: unsupported database (use sqlite:/// or mysql+mysqldb://)")


def mysql_timeouts(query_timeout: int | None, init_command: str | None = None) -> dict[str, int | str]:
    """The driver's connect, read and write timeouts (mysqlclient): no call waits longer on a hung server.

    *init_command*: a statement the driver runs on each new connection.
    """
    bounds: dict[str, int | str] = {"connect_timeout": CONNECT_TIMEOUT}
    if query_timeout:
        bounds.update(read_timeout=query_timeout, write_timeout=query_timeout)
    if init_command:
        bounds["init_command"] = init_command
    return bounds


@dataclass(frozen=True, slots=True)
class HotStatement:
    """A Core statement compiled once for one dialect: the driver's SQL and how to order its parameters."""

    sql: str
    # Per position of the driver's parameters: the name of a caller's parameter, or None for a constant.
    names: tuple[str | None, ...]
    constants: tuple[object, ...]

    @classmethod
    def compile(cls, statement: Executable, dialect: Dialect) -> HotStatement:
        """Compile *statement* for *dialect*; refused when its types would need SQLAlchemy's conversions."""
        compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        # The plain cursor would skip SQLAlchemy's conversions of parameters and results: none allowed.
        types = [bind.type for bind in compiled.binds.values()]
        results = [column.type for column in getattr(statement, "exported_columns", ())]
        if any(t.dialect_impl(dialect).bind_processor(dialect) for t in types) or any(
                t.dialect_impl(dialect).result_processor(dialect, None) for t in results):
            raise ValueError(f"{statement}: its types need conversions, run it through SQLAlchemy")
        if not compiled.positional or compiled.positiontup is None:
            raise ValueError(f"{dialect.name}: the hot path needs a positional paramstyle")
        given = {name for name, value in compiled.params.items() if value is None}
        names = tuple(name if name in given else None for name in compiled.positiontup)
        constants = tuple(None if name in given else compiled.params[name] for name in compiled.positiontup)
        return cls(compiled.string, names, constants)

    def arguments(self, params: Mapping[str, object]) -> tuple[object, ...]:
        """The driver's positional arguments for the caller's named *params*."""
        return tuple(params[name] if name is not None else constant
                     for name, constant in zip(self.names, self.constants, strict=True))


@dataclass(frozen=True, slots=True)
class HotResult:
    """What a hot write gives back: its returned rows, the matched rows (MySQL's ``FOUND_ROWS``), ``lastrowid``."""

    rows: Sequence[Sequence[Any]]
    rowcount: int
    lastrowid: int | None


class HotConnection:
    """A pooled DBAPI connection that runs hot statements on a plain cursor (see :meth:`Database.hot_read`)."""

    def __init__(self, db: Database, raw: PoolProxiedConnection) -> None:
        self._db = db
        self.raw = raw
        self.dialect_name: str = db.engine.dialect.name

    def execute(self, statement: Executable, params: Mapping[str, object]) -> HotResult:
        """Run *statement* with *params*; its rows are all fetched (a RETURNING's before the commit)."""
        hot = self._db.hot_statement(statement)
        cursor = self.raw.cursor()
        arguments = hot.arguments(params)
        try:
            # The engine's statement listeners (instrumentation, tests that count writes) still see it;
            # there is no SQLAlchemy Connection or execution context to give them (None).
            for listener in self._db.engine.dispatch.before_cursor_execute:
                listener(None, cursor, hot.sql, arguments, None, False)
            cursor.execute(hot.sql, arguments)
            rows = cursor.fetchall() if cursor.description is not None else ()
            return HotResult(rows, cursor.rowcount, cursor.lastrowid)
        finally:
            cursor.close()

    def first(self, statement: Executable, params: Mapping[str, object]) -> Sequence[Any] | None:
        """The first row of query *statement*, or None."""
        rows = self.execute(statement, params).rows
        return rows[0] if rows else None


class Database:
    """The engine, a session factory and the worker threads that run every query."""

    def __init__(self, url: str, workers: int | None = None, create: bool = True,
                 query_timeout: int | None = QUERY_TIMEOUT) -> None:
        self.url = url
        self.query_timeout = query_timeout
        self.engine = make_engine(url, create, query_timeout)
        # The hot statements' own pool, in autocommit: each is one statement, its own transaction.
        self.hot_engine = make_engine(url, create, query_timeout, autocommit=True)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        if workers is None:
            workers = SQLITE_WORKERS if self.engine.dialect.name == "sqlite" else SERVER_WORKERS
        self.workers = WorkerThreads(workers, "gridauth-db")
        # A failure that took most of the query timeout is a database not answering (see db/outage.py).
        self.gate = OutageGate(slow_after=0.8 * min(query_timeout or QUERY_TIMEOUT, CONNECT_TIMEOUT),
                               hold=OUTAGE_HOLD)
        self._pinger = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gridauth-ping")
        self._ping: asyncio.Future[bool] | None = None
        self._hot: dict[Executable, HotStatement] = {}
        self._closing: list[Callable[[], None]] = []

    @property
    def safe_url(self) -> str:
        """The URL with its password hidden, for logs."""
        return make_url(self.url).render_as_string(hide_password=True)

    def ping(self) -> bool:
        """Whether the database answers right now (a success lets held transactions through again)."""
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except DBAPIError:
            return False
        self.gate.answered(probe=False)
        return True

    async def answers(self, timeout: float = HEALTH_TIMEOUT) -> bool:
        """Whether the database answers a ping within *timeout* seconds, for ``/health``.

        The ping runs on a thread of its own, so it never queues behind requests stuck on a hung
        database, and one at a time: checks that come while a ping is still out wait for that one.
        """
        if self._ping is None or self._ping.done():
            self._ping = asyncio.get_running_loop().run_in_executor(self._pinger, self.ping)
        try:
            return await asyncio.wait_for(asyncio.shield(self._ping), timeout)
        except TimeoutError:
            return False

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error."""
        with self.translated(), self.sessions.begin() as session:
            yield session

    def atomic(self, work: Callable[[Session], T], attempts: int = CONFLICT_ATTEMPTS) -> T:
        """Run *work* in one transaction and commit; run it again from the start if it lost a race.

        Every state change that reads before it writes goes through here (or :meth:`atomic_core`), so
        that it is one transaction, and so that a conflict with another process or another Galera node
        (a deadlock or a certification failure at commit) costs a retry, not an error. *work* must
        therefore do nothing but database work: it may run more than once.
        """
        return self._retrying(self.sessions.begin, work, attempts)

    def atomic_core(self, work: Callable[[Connection], T], attempts: int = CONFLICT_ATTEMPTS) -> T:
        """:meth:`atomic` for Core statements on a plain connection: the hot paths (a refresh) skip the ORM's cost."""
        return self._retrying(self.engine.begin, work, attempts)

    def read(self, work: Callable[[Connection], T]) -> T:
        """Run the Core queries of *work* on a pooled connection, errors translated (reads: nothing is committed)."""
        with self.translated(), self.engine.connect() as connection:
            return work(connection)

    def hot_statement(self, statement: Executable) -> HotStatement:
        """*statement* compiled for this engine's dialect, once (a race compiles it twice, harmlessly)."""
        hot = self._hot.get(statement)
        if hot is None:
            hot = self._hot[statement] = HotStatement.compile(statement, self.engine.dialect)
        return hot

    def hot_read(self, work: Callable[[HotConnection], T]) -> T:
        """:meth:`read` for fixed statements on a plain DBAPI cursor: the CPU of SQLAlchemy's per-statement work saved.

        On the hot pool, in autocommit: each query reads the latest committed state and leaves no
        transaction open (on MySQL, no metadata lock and no snapshot), without a ROLLBACK's round trip.
        """
        with self.translated(), self._hot_connection() as connection:
            return work(connection)

    def hot_write(self, statement: Executable, params: Mapping[str, object],
                  attempts: int = CONFLICT_ATTEMPTS) -> HotResult:
        """Run the one write *statement* as its own transaction (autocommit), run again after a conflict.

        One statement is atomic by itself: a conditional UPDATE checks and changes a row under its
        write lock, and commits as it completes, without a COMMIT's round trip. A change that needs
        several statements is a transaction of :meth:`atomic` or :meth:`atomic_core`.
        """
        return self._retrying(self._hot_connection, lambda connection: connection.execute(statement, params),
                              attempts)

    def _hot_connection(self) -> _HotCheckout:
        """A DBAPI connection of the hot pool (autocommit), back to the pool at the end of the block."""
        return _HotCheckout(self)

    def _retrying(self, begin: Callable[[], contextlib.AbstractContextManager[S]], work: Callable[[S], T],
                  attempts: int) -> T:
        for attempt in range(1, attempts + 1):
            try:
                with self.translated(), begin() as handle:
                    return work(handle)
            except DatabaseUnavailable as error:
                pause = pause_before_retry(error, attempt, attempts)
            time.sleep(pause)
        raise AssertionError("unreachable")  # the loop returns or raises

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        """A plain connection in one transaction, for schema work at the start of a command or of ``serve``.

        Errors are translated as in :meth:`transaction`, an outage with the database and the driver's
        reason: the person who started the command reads it, not a client.
        """
        with self.translated(detailed=True), self.engine.begin() as connection:
            yield connection

    def translated(self, detailed: bool = False) -> _Translated:
        """Driver errors raised inside become :func:`translate`'s errors (a bug's error rises unchanged).

        The outage gate is passed first: while it holds, this raises :class:`DatabaseUnavailable` at once.
        With *detailed*, an outage says which database and what the driver said.
        """
        return _Translated(self, detailed)

    async def run(self, func: Callable[..., T], *args: object) -> T:
        """Run blocking *func* (which may query) on the worker threads and await its result."""
        return await self.workers.run(functools.partial(func, *args) if args else func)

    def on_close(self, step: Callable[[], None]) -> None:
        """Have :meth:`close` run *step* too (after the workers stopped): a store's own connections."""
        self._closing.append(step)

    def close(self) -> None:
        """Stop the workers and close pooled connections."""
        self.workers.shutdown()
        for step in self._closing:
            step()
        self._pinger.shutdown(wait=True)
        self.engine.dispose()
        self.hot_engine.dispose()


# The two blocks every database call passes through are classes rather than generators: a generator's
# context manager costs a microsecond more to enter and leave, twice per hot statement.
class _Translated:
    """The block of :meth:`Database.translated`."""

    __slots__ = ("db", "detailed", "probe", "started")

    def __init__(self, db: Database, detailed: bool) -> None:
        self.db = db
        self.detailed = detailed

    def __enter__(self) -> None:
        self.probe = self.db.gate.enter()
        self.started = time.monotonic()

    def __exit__(self, kind: type[BaseException] | None, raised: BaseException | None, trace: object) -> None:
        gate = self.db.gate
        if isinstance(raised, DBAPIError):
            if (error := translate(raised, self.db.safe_url)) is None:
                gate.answered(self.probe)
                return  # a bug's error, unchanged
            if isinstance(error, DatabaseUnavailable) and not conflict(raised):
                gate.failed(time.monotonic() - self.started, self.probe)
            else:
                gate.answered(self.probe)
            if self.detailed and isinstance(error, DatabaseUnavailable):
                error = DatabaseUnavailable(f"{self.db.safe_url}: database unavailable: {raised.orig}")
            raise error from raised
        if isinstance(raised, DatabaseUnavailable):  # from a nested transaction, or the gate itself
            gate.failed(time.monotonic() - self.started, self.probe)
        else:
            gate.answered(self.probe)


class _HotCheckout:
    """The block of :meth:`Database._hot_connection`.

    A driver error is raised as SQLAlchemy's :class:`DBAPIError` (so that :meth:`Database.translated` and
    :func:`conflict` read it as any other); when it says the connection is dead, the connection is
    invalidated, so the pool opens a new one for the next checkout.
    """

    __slots__ = ("db", "raw")

    def __init__(self, db: Database) -> None:
        self.db = db

    def __enter__(self) -> HotConnection:
        self.raw = raw_checkout(self.db.hot_engine)
        return HotConnection(self.db, self.raw)

    def __exit__(self, kind: type[BaseException] | None, raised: BaseException | None, trace: object) -> None:
        engine = self.db.hot_engine
        try:
            if isinstance(raised, engine.dialect.loaded_dbapi.Error):
                raise driver_error(engine, self.raw, raised) from raised
        finally:
            self.raw.close()  # back to the pool (or, invalidated, closed)


def raw_checkout(engine: Engine) -> PoolProxiedConnection:
    """A DBAPI connection of *engine*'s pool (its checkout events, the idle ping, run); no connection is raised as
    SQLAlchemy's :class:`DBAPIError`, as ``Engine.connect()`` raises it, and a pool that gave none within its
    timeout (SQLite's one hot connection, held by a statement that waits on a lock) as an outage."""
    dbapi_error = engine.dialect.loaded_dbapi.Error
    try:
        return engine.raw_connection()
    except dbapi_error as exc:
        raise DBAPIError.instance(None, None, exc, dbapi_error, dialect=engine.dialect) from exc
    except PoolTimeout:
        raise DatabaseUnavailable("database unavailable: no connection came free in time") from None


def driver_error(engine: Engine, raw: PoolProxiedConnection, exc: Any) -> DBAPIError:
    """The driver error *exc* of *raw* as SQLAlchemy's :class:`DBAPIError`; *raw* invalidated when it says the
    connection is dead (so that the pool opens a new one)."""
    dead = engine.dialect.is_disconnect(exc, raw.dbapi_connection, None)
    if dead:
        raw.invalidate(exc)
    return cast(DBAPIError, DBAPIError.instance(None, None, exc, engine.dialect.loaded_dbapi.Error,
                                                connection_invalidated=dead, dialect=engine.dialect))


def mysql_error_number(exc: BaseException | None) -> int | None:
    """The MySQL/MariaDB error number of a driver error wrapped in *exc*, None for any other error."""
    args: tuple[object, ...] = getattr(getattr(exc, "orig", None), "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def conflict(exc: BaseException | None) -> bool:
    """Whether *exc* is a transaction that lost a race with another one (worth running again)."""
    return mysql_error_number(exc) in MYSQL_CONFLICT_ERRORS


def pause_before_retry(error: DatabaseUnavailable, attempt: int, attempts: int) -> float:
    """Seconds to pause before running a transaction again after *error* on its *attempt* (of *attempts*).

    Only a conflict is run again (:func:`conflict`), after a short random pause that grows with each
    attempt, so that the transactions that collided do not collide again; any other error, or the last
    attempt's, is raised again here. :meth:`Database._retrying` and the awaited writes (``awaited.py``)
    follow this one rule, the first pausing its thread, the second the coroutine.
    """
    if attempt == attempts or not conflict(error.__cause__):
        raise error
    log.info("transaction conflict (attempt %d of %d), running it again", attempt, attempts)
    return random.uniform(0.001, 0.01) * attempt


def schema_problem(exc: DBAPIError) -> str | None:
    """The driver's message when *exc* says a table or column the code uses is missing, else None.

    Only the driver's own message is kept: SQLAlchemy's text of the error also shows the statement's
    parameters, which may be secrets.
    """
    orig = exc.orig
    if mysql_error_number(exc) in MYSQL_SCHEMA_ERRORS:
        args: tuple[object, ...] = getattr(orig, "args", ())
        return str(args[1]) if len(args) > 1 else str(args[0])
    message = str(orig)
    if any(marker in message for marker in SQLITE_SCHEMA_ERRORS):
        return message
    return None


def translate(exc: DBAPIError, shown_url: str) -> GridauthError | None:
    """What a driver error means for gridauth: a schema mismatch, an outage, or None (a bug: let it rise)."""
    problem = schema_problem(exc)
    if problem is not None:
        return SchemaMismatch(f"the schema of {shown_url} is not this gridauth's revision ({problem}); "
                              f"run `gridauth db upgrade --db {shown_url}`")
    if exc.connection_invalidated or (isinstance(exc, OperationalError)
                                      and mysql_error_number(exc) not in MYSQL_DATA_ERRORS):
        return DatabaseUnavailable(f"database unavailable: {type(exc.orig).__name__}")
    return None
