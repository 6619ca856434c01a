"""The database worker threads (db/workers.py): every call's outcome reaches its awaiting task, results that
finish while the loop is busy are delivered by one wake-up, cancelled calls are not run, shutdown drains."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from gridauth.db.engine import Database
from gridauth.db.workers import WorkerThreads


def test_every_outcome_reaches_its_task_on_a_worker_thread() -> None:
    workers = WorkerThreads(3, "gridauth-db")

    def work(n: int) -> tuple[int, str]:
        if n % 7 == 3:
            raise ValueError(f"call {n} refused")
        return n * n, threading.current_thread().name

    async def main() -> list[object]:
        return await asyncio.gather(*(workers.run(lambda n=n: work(n)) for n in range(500)),
                                    return_exceptions=True)

    try:
        outcomes = asyncio.run(main())
    finally:
        workers.shutdown()
    for n, outcome in enumerate(outcomes):
        if n % 7 == 3:
            assert isinstance(outcome, ValueError) and str(outcome) == f"call {n} refused"
        else:
            assert isinstance(outcome, tuple)
            assert outcome[0] == n * n
            assert outcome[1] in {"gridauth-db_0", "gridauth-db_1", "gridauth-db_2"}


def test_results_finished_while_the_loop_is_busy_come_with_one_wake_up() -> None:
    workers = WorkerThreads(2, "gridauth-db")
    wake_ups = []

    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        plain = loop.call_soon_threadsafe

        def counted(*args: object, **kwargs: object) -> asyncio.Handle:
            wake_ups.append(threading.current_thread().name)
            return plain(*args, **kwargs)  # type: ignore[arg-type]
        loop.call_soon_threadsafe = counted  # type: ignore[method-assign]
        finished, lock, all_run = [], threading.Lock(), threading.Event()

        def call(n: int) -> int:
            with lock:
                finished.append(n)
                if len(finished) == 40:
                    all_run.set()
            return n
        calls = [asyncio.ensure_future(workers.run(lambda n=n: call(n))) for n in range(40)]
        await asyncio.sleep(0)  # the calls are queued to the threads
        assert all_run.wait(10)  # the loop is busy (blocked here) while the threads run all forty
        time.sleep(0.05)  # and while they post the outcomes
        return await asyncio.gather(*calls)

    try:
        assert asyncio.run(main()) == list(range(40))
    finally:
        workers.shutdown()
    assert 1 <= len(wake_ups) <= 2, wake_ups  # one per batch (a second if a thread raced the delivery)


def test_a_call_cancelled_before_a_thread_takes_it_is_not_run() -> None:
    workers = WorkerThreads(1, "gridauth-db")
    gate, ran = threading.Event(), []

    async def main() -> None:
        first = asyncio.ensure_future(workers.run(lambda: gate.wait(5)))
        second = asyncio.ensure_future(workers.run(lambda: ran.append("second")))
        await asyncio.sleep(0.05)
        second.cancel()
        gate.set()
        assert await first is True
        with pytest.raises(asyncio.CancelledError):
            await second
        assert await workers.run(lambda: "third") == "third"

    try:
        asyncio.run(main())
    finally:
        workers.shutdown()
    assert ran == []


def test_shutdown_finishes_queued_calls_then_refuses_new_ones() -> None:
    workers = WorkerThreads(1, "gridauth-db")
    done = []

    async def queue_and_stop() -> None:
        calls = [asyncio.ensure_future(workers.run(lambda n=n: (time.sleep(0.01), done.append(n)))) for n in range(5)]
        await asyncio.sleep(0)
        await asyncio.get_running_loop().run_in_executor(None, workers.shutdown)
        await asyncio.gather(*calls)

    asyncio.run(queue_and_stop())
    assert done == [0, 1, 2, 3, 4]

    async def after() -> None:
        with pytest.raises(RuntimeError, match="shut down"):
            await workers.run(lambda: None)
    asyncio.run(after())


def test_database_run_works_across_event_loops(db_url: str) -> None:
    """One Database serves a loop after another (a test, a command): each loop gets its results."""
    db = Database(db_url)
    try:
        for _ in range(3):
            assert asyncio.run(db.run(lambda a, b: a + b, 2, 3)) == 5
    finally:
        db.close()
