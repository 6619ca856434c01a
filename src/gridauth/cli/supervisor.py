"""Run the service in N worker processes that share the listening sockets, and stop them together.

The parent forks the workers after binding, restarts a worker that dies unexpectedly, and forwards
SIGTERM/SIGINT so that stopping the parent stops every worker. Each worker also asks the kernel to
end it if the parent disappears (``PR_SET_PDEATHSIG``), so no worker outlives a killed parent.

The workers share one metrics directory (prometheus-client's multiprocess mode, see
``gridauth/metrics.py``) so that one scrape of any worker shows the whole service:
:func:`shared_metrics_dir` prepares it before anything imports prometheus-client.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import GridauthError

log = logging.getLogger("gridauth.serve")
PR_SET_PDEATHSIG = 1
RESTART_PAUSE = 1.0
MAX_RESTART_PAUSE = 60.0
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


@contextlib.contextmanager
def shared_metrics_dir(processes: int) -> Iterator[Path | None]:
    """The directory where every worker keeps its metrics (None: one process, metrics kept in memory).

    It must be in the environment before ``prometheus_client`` is first imported, which decides then
    whether values live in memory or in files. The operator's ``$PROMETHEUS_MULTIPROC_DIR`` (e.g. under
    systemd's ``RuntimeDirectory``) is used and emptied of an earlier run's files, so that counts start
    from zero; otherwise a private temporary directory is made and removed at the end.
    """
    given = os.environ.get(METRICS_DIR_ENV)
    if given:
        path = Path(given)
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            for stale in path.glob("*.db"):
                stale.unlink()
        except OSError as exc:
            raise GridauthError(f"cannot prepare the metrics directory {given} ($PROMETHEUS_MULTIPROC_DIR): "
                                f"{exc.strerror or exc}") from None
        yield path
        return
    if processes == 1:
        yield None
        return
    path = Path(tempfile.mkdtemp(prefix="gridauth-metrics-"))
    os.environ[METRICS_DIR_ENV] = str(path)
    try:
        yield path
    finally:
        os.environ.pop(METRICS_DIR_ENV, None)
        shutil.rmtree(path, ignore_errors=True)


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


def run_workers(worker: Callable[[], None], processes: int, ended: Callable[[int], None] | None = None) -> int:
    """Run *worker* in this process (``processes == 1``) or in N forked children (0: one per CPU).

    *ended* is called with the process id of every worker that has ended (to forget its live metrics).
    """
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
        if ended is not None:
            ended(pid)
        if not stopping:
            code = os.waitstatus_to_exitcode(status)
            how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
            log.error("worker %d stopped (%s); starting another in %g s", pid, how, pause)
            time.sleep(pause)
            pause = min(pause * 2, MAX_RESTART_PAUSE)  # a worker that keeps dying is not restarted in a loop
            if not stopping:
                children.add(_spawn(worker))
    return 0
