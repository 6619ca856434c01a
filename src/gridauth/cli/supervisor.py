"""Run the service in N worker processes that share the listening sockets, and stop them together.

The parent forks the workers after binding, restarts a worker that dies unexpectedly (after a pause
that doubles while workers keep dying young, and starts again from one second once a worker had
served for a minute: :class:`RestartBackoff`), and forwards
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
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import GridauthError

log = logging.getLogger("gridauth.serve")
PR_SET_PDEATHSIG = 1
RESTART_PAUSE = 1.0
MAX_RESTART_PAUSE = 60.0
HEALTHY_UPTIME = 60.0
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


@dataclass
class RestartBackoff:
    """How long to wait before replacing a worker that died.

    A worker that keeps dying right after it starts (a bad database URL, a broken host) is not restarted
    in a tight loop: each pause is twice the last, up to *most*. A worker that had served for
    *healthy_after* seconds died of something new, so the pause starts again from *first*: one crash
    a day must not leave the service a worker short for a minute.
    """

    first: float = RESTART_PAUSE
    most: float = MAX_RESTART_PAUSE
    healthy_after: float = HEALTHY_UPTIME
    _next: float = field(default=0.0, init=False)

    def pause(self, uptime: float) -> float:
        """The pause before replacing a worker that died after *uptime* seconds."""
        if self._next == 0.0 or uptime >= self.healthy_after:
            self._next = self.first
        pause, self._next = self._next, min(self._next * 2, self.most)
        return pause


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


def run_workers(worker: Callable[[], None], processes: int, ended: Callable[[int], None] | None = None,
                backoff: RestartBackoff | None = None) -> int:
    """Run *worker* in this process (``processes == 1``) or in N forked children (0: one per CPU).

    *ended* is called with the process id of every worker that has ended (to forget its live metrics);
    *backoff* paces the restarts of workers that died.
    """
    if processes == 1:
        worker()
        return 0
    count = processes if processes > 0 else (os.cpu_count() or 1)
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    children: dict[int, float] = {}  # process id: when it started (monotonic)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for _ in range(count):
        children[_spawn(worker)] = time.monotonic()
    log.info("started %d worker processes: %s", count, ", ".join(map(str, sorted(children))))
    backoff = backoff or RestartBackoff()
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        started = children.pop(pid, None)
        if started is None:  # not a worker (nothing else is forked here, but never restart a stranger)
            continue
        if ended is not None:
            ended(pid)
        if not stopping:
            code = os.waitstatus_to_exitcode(status)
            how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
            uptime = time.monotonic() - started
            pause = backoff.pause(uptime)
            log.error("worker %d stopped (%s) after %.0f s; starting another in %g s", pid, how, uptime, pause)
            time.sleep(pause)
            if not stopping:
                children[_spawn(worker)] = time.monotonic()
    return 0
