"""The database worker threads, which hand their results back to the IOLoop in batches.

Every query runs on these threads, never on the IOLoop's (``engine.py``). asyncio's
``run_in_executor`` pays, for each call, a ``concurrent.futures.Future`` chained to an asyncio one
and a write to the loop's wake-up pipe when the work is done, which makes the loop go round once
more to read it. Under load, that hand-over cost the IOLoop thread about as much CPU as parsing
the request. Here a finished call goes into the loop's mailbox, and only the first result of a
batch wakes the loop: the results that land while the loop is still busy (the usual case under
load) are delivered by that same wake-up, without a system call of their own.

The threads start at the first call (after ``gridauth serve`` has forked its processes) and stop at
:meth:`WorkerThreads.shutdown`; a call whose awaiting task was cancelled before a thread took it
up is not run, as with an executor.
"""

from __future__ import annotations

import asyncio
import collections
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_STOP = None  # the job that tells a thread to end


class _Mailbox:
    """One event loop's finished calls, and whether a wake-up to deliver them is already on its way."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.finished: collections.deque[tuple[asyncio.Future[Any], bool, Any]] = collections.deque()
        self.wake_pending = False

    def post(self, future: asyncio.Future[Any], ok: bool, value: Any) -> None:
        """From a worker thread: queue the outcome; wake the loop unless a wake-up is already pending."""
        self.finished.append((future, ok, value))
        if not self.wake_pending:
            self.wake_pending = True
            try:
                self.loop.call_soon_threadsafe(self.deliver)
            except RuntimeError:  # the loop is closed: nobody awaits these any more
                self.finished.clear()

    def deliver(self) -> None:
        """On the loop: settle every queued future (the flag is lowered first, so none is left behind)."""
        self.wake_pending = False
        finished = self.finished
        while finished:
            future, ok, value = finished.popleft()
            if future.cancelled():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)


class WorkerThreads:
    """*count* threads named *name*_N that run blocking calls for coroutines (see the module's docstring).

    The threads are daemons: the serving process shuts them down after its last connection closed
    (:meth:`shutdown`, from ``Database.close``); a process that ends without that does not wait for them.
    """

    def __init__(self, count: int, name: str) -> None:
        self.count = count
        self.name = name
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], asyncio.Future[Any], _Mailbox] | None] = \
            queue.SimpleQueue()
        self._last: _Mailbox | None = None  # the mailbox of the loop that called last (usually the only one)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    async def run(self, call: Callable[[], T]) -> T:
        """Run *call* on one of the threads and await what it returns (or raises)."""
        loop = asyncio.get_running_loop()
        mailbox = self._last
        if mailbox is None or mailbox.loop is not loop:
            mailbox = self._last = _Mailbox(loop)
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:  # not queued behind the stop jobs of a shutdown, nor threads started after it
            if self._closed:
                raise RuntimeError("the database worker threads were shut down")
            if not self._threads:  # the first call
                self._threads = [threading.Thread(target=self._work, name=f"{self.name}_{number}", daemon=True)
                                 for number in range(self.count)]
                for thread in self._threads:
                    thread.start()
            self._jobs.put((call, future, mailbox))
        return await future

    def _work(self) -> None:
        """A thread's loop: take a call, run it, post its outcome; end at the stop job."""
        jobs = self._jobs
        while (job := jobs.get()) is not _STOP:
            call, future, mailbox = job
            if future.cancelled():
                continue
            try:
                outcome = (True, call())
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task, as an executor does
                outcome = (False, exc)
            mailbox.post(future, *outcome)
            del job, call, future, outcome  # no reference to a finished call's objects while waiting

    def shutdown(self) -> None:
        """Let the threads finish the calls already queued, then end them; later calls are refused."""
        with self._lock:
            self._closed = True
            threads, self._threads, self._last = self._threads, [], None
            for _ in threads:
                self._jobs.put(_STOP)
        for thread in threads:
            thread.join()
