"""Run the service in N worker processes that share the listening sockets, and stop them together.

The parent forks the workers after binding, restarts a worker that dies unexpectedly, and forwards
SIGTERM/SIGINT so that stopping the parent stops every worker. Each worker also asks the kernel to
end it if the parent disappears (``PR_SET_PDEATHSIG``), so no worker outlives a killed parent.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import time
from collections.abc import Callable

log = logging.getLogger("gridauth.serve")
PR_SET_PDEATHSIG = 1
RESTART_PAUSE = 1.0
MAX_RESTART_PAUSE = 60.0


def _die_with_parent() -> None:
    # Not Linux: no prctl, but the parent's signal forwarding still stops the workers.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _spawn(worker: Callable[[], None]) -> int:
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            _die_with_parent()
            worker()
        except BaseException:
            log.exception("worker failed")
            code = 1
        finally:
            os._exit(code)
    return pid


def run_workers(worker: Callable[[], None], processes: int) -> int:
    """Run *worker* in this process (``processes == 1``) or in N forked children (0: one per CPU)."""
    if processes == 1:
        worker()
        return 0
    count = processes if processes > 0 else (os.cpu_count() or 1)
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    children: set[int] = set()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    children.update(_spawn(worker) for _ in range(count))
    log.info("started %d worker processes: %s", count, ", ".join(map(str, sorted(children))))
    pause = RESTART_PAUSE
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        children.discard(pid)
        if not stopping:
            code = os.waitstatus_to_exitcode(status)
            how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
            log.error("worker %d stopped (%s); starting another in %g s", pid, how, pause)
            time.sleep(pause)
            pause = min(pause * 2, MAX_RESTART_PAUSE)  # a worker that keeps dying is not restarted in a loop
            if not stopping:
                children.add(_spawn(worker))
    return 0
