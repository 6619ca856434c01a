"""Hot writes on MySQL/MariaDB whose answer the IOLoop awaits: no thread waits on the server's round trip.

Why: a database worker thread that blocks on a round trip in the middle of a request, and then
wants the GIL back while the IOLoop thread holds it, costs the server far more CPU than the wait
itself. Measured on the benchmark machine (issue 12): a 300 µs sleep added to the refresh's
renewal on a worker thread took SQLite refreshes from 2,070 to 1,300 requests per CPU-second; the
same 300 µs awaited on the IOLoop, the refresh's work still on a worker, cost 1,940. A refresh on
MariaDB waits that long for its ``UPDATE`` to commit. So the refresh of a refresh token that
carries its grant runs its checks on a worker, then its renewal is sent from the IOLoop and its
answer awaited there, then the token is made on a worker (``web/token.py``).

How: the statement goes out with mysqlclient's ``send_query`` (a few hundred bytes, which the
socket takes at once), the loop watches the connection's socket, and once it is readable
``read_query_result`` reads the server's answer, an OK or an error packet that arrives whole. No
answer within the query timeout closes the connection: an outage, answered 503 as any other.

Connections come from a pool of their own (autocommit, as the hot pool's), checked out on a worker
thread (where the pool may connect), and are kept here between uses; one idle for longer than
``PING_AFTER_IDLE`` is pinged on a worker before use, as the pools do. At most :data:`IN_FLIGHT`
statements of a process are out at once; the others wait their turn on the loop. Errors are those
of :meth:`Database.hot_write`: translated through the outage gate, a conflict (a deadlock, a Galera
certification failure) run again after a short pause, a dead connection dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Mapping

from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql.base import Executable

from ..errors import DatabaseUnavailable
from .engine import (
    CONFLICT_ATTEMPTS,
    PING_AFTER_IDLE,
    QUERY_TIMEOUT,
    Database,
    HotResult,
    driver_error,
    make_engine,
    pause_before_retry,
    raw_checkout,
)

# Statements of one process out at once, and so connections kept (requests beyond wait on the loop).
IN_FLIGHT = 8
LOST_CONNECTION = 2013  # the server's error number for an answer that never came


class AwaitedWrites:
    """One-statement writes of *db* (MySQL/MariaDB) sent from the IOLoop and awaited there (see the module)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.engine = make_engine(db.url, query_timeout=db.query_timeout, autocommit=True)
        self.timeout = float(db.query_timeout or QUERY_TIMEOUT)
        self._idle: list[tuple[PoolProxiedConnection, float]] = []  # with when each was last used
        self._slots: asyncio.Semaphore | None = None
        db.on_close(self.close)

    async def write(self, statement: Executable, params: Mapping[str, object],
                    attempts: int = CONFLICT_ATTEMPTS) -> HotResult:
        """Run the one write *statement* as its own transaction; run it again after a conflict."""
        hot = self.db.hot_statement(statement)
        arguments = hot.arguments(params)
        if self._slots is None:
            self._slots = asyncio.Semaphore(IN_FLIGHT)
        async with self._slots:
            for attempt in range(1, attempts + 1):
                try:
                    with self.db.translated():
                        return await self._once(hot.sql, arguments)
                except DatabaseUnavailable as error:
                    pause = pause_before_retry(error, attempt, attempts)
                await asyncio.sleep(pause)
        raise AssertionError("unreachable")  # the loop returns or raises

    async def _once(self, sql: str, arguments: tuple[object, ...]) -> HotResult:
        raw = await self._connection()
        connection = raw.dbapi_connection
        assert connection is not None
        try:
            # The statement listeners see it as they see a hot statement (no cursor: it is sent without one).
            for listener in self.db.engine.dispatch.before_cursor_execute:
                listener(None, None, sql, arguments, None, False)
            connection.send_query(sql.encode() % tuple(connection.literal(value) for value in arguments))
            await self._answer(connection.fileno())
            connection.read_query_result()
            result = HotResult((), connection.affected_rows(), connection.insert_id())
        except self.engine.dialect.loaded_dbapi.Error as exc:
            error = driver_error(self.engine, raw, exc)
            if not error.connection_invalidated:
                self._keep(raw)
            raise error from exc
        except BaseException:  # cancelled while the answer was still out: this connection is not usable again
            _hang_up(connection.fileno())
            raw.invalidate()
            raise
        self._keep(raw)
        return result

    async def _answer(self, fd: int) -> None:
        """Until *fd* is readable; the driver's error for a lost connection after the query timeout."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        loop.add_reader(fd, _settle, ready, None)
        deadline = loop.call_later(self.timeout, _settle, ready, TimeoutError())
        try:
            await ready
        except TimeoutError:
            _hang_up(fd)  # closing the connection would wait for the answer still out
            error = self.engine.dialect.loaded_dbapi.OperationalError
            raise error(LOST_CONNECTION, f"no answer from the server within {self.timeout:g} s") from None
        finally:
            deadline.cancel()
            loop.remove_reader(fd)

    async def _connection(self) -> PoolProxiedConnection:
        """A connection kept here (pinged on a worker when idle too long), or a new checkout on a worker."""
        now = time.monotonic()
        while self._idle:
            raw, used = self._idle.pop()
            if now - used <= PING_AFTER_IDLE:
                return raw
            try:
                await self.db.run(raw.dbapi_connection.ping)  # type: ignore[union-attr]
                return raw
            except self.engine.dialect.loaded_dbapi.Error as exc:
                raw.invalidate(exc)
        return await self.db.run(raw_checkout, self.engine)

    def _keep(self, raw: PoolProxiedConnection) -> None:
        self._idle.append((raw, time.monotonic()))

    def close(self) -> None:
        """Give the kept connections back and close the pool (``Database.close``)."""
        idle, self._idle = self._idle, []
        for raw, _ in idle:
            raw.close()
        self.engine.dispose()


def _hang_up(fd: int) -> None:
    """Shut the connection's socket down, so that closing the connection reads no answer still on its way."""
    with contextlib.suppress(OSError):
        sock = socket.socket(fileno=fd)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.detach()  # the driver still owns the descriptor, and closes it


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    """Resolve *future* once (readable, or timed out), whichever comes first."""
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
