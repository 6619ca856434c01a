"""Failing fast while the database hangs, instead of tying up every worker thread on it.

Every query is bounded (the driver's read, write and connect timeouts, SQLite's busy timeout: see
``engine.py``), but a hung server (stopped, swapping, a network path that drops packets) still holds
each request for that long, and the requests queued behind them for longer. The gate turns the first
*slow* failure into a short hold: while it is held, a transaction fails at once with
:class:`DatabaseUnavailable` (503 ``temporarily_unavailable`` for the client), without touching the
database. When the hold ends, one transaction, the probe, goes through; the others keep failing fast
until the probe answers. A probe that succeeds (or any successful ``/health`` ping) opens the way
again; one that fails holds again.

A *fast* failure (connection refused, a connection cut) does not hold the gate: it costs no worker
time, and the next request should try again at once, so that the service recovers the moment the
database is back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..errors import DatabaseUnavailable


class OutageGate:
    """Whether transactions may reach the database now; held for *hold* seconds after a slow failure.

    A failure is slow when it took at least *slow_after* seconds (the query timeout's order: the
    database did not answer, rather than refused).
    """

    def __init__(self, slow_after: float, hold: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.slow_after = slow_after
        self.hold = hold
        self.clock = clock
        self._held_until = 0.0  # 0: open
        self._probing = False
        self._lock = threading.Lock()

    @property
    def held(self) -> bool:
        """Whether the gate holds transactions back right now (a recent slow failure, no success since)."""
        return self._held_until > 0.0

    def enter(self) -> bool:
        """Let a transaction through (True when it is the probe), or raise :class:`DatabaseUnavailable`."""
        if not self._held_until:  # the common case: no lock taken
            return False
        with self._lock:
            if not self._held_until:
                return False
            if self._probing or self.clock() < self._held_until:
                raise DatabaseUnavailable("database unavailable: it did not answer in time a moment ago")
            self._probing = True
            return True

    def failed(self, seconds: float, probe: bool) -> None:
        """A transaction that entered failed with an outage after *seconds*: hold when slow, or when the probe."""
        if probe or seconds >= self.slow_after:
            with self._lock:
                self._held_until = self.clock() + self.hold
                if probe:
                    self._probing = False

    def answered(self, probe: bool) -> None:
        """The database answered (a transaction that entered ended without an outage, or a ping succeeded)."""
        if probe or self._held_until:
            with self._lock:
                self._held_until = 0.0
                self._probing = False
