"""The worker supervisor restarts dead workers with a back-off that starts again after healthy uptime."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import wait_for
from harness import stop_process

# Workers take the next attempt number (a file made with O_EXCL) and behave as SCHEDULE says: the
# first serves until stopped, the next three die at once, the fifth serves past the healthy uptime and
# then dies, the sixth dies at once, the rest serve. Real forks, real signals, the real supervisor.
SUPERVISED = textwrap.dedent("""
    import logging, os, sys, time
    from gridauth.cli.supervisor import RestartBackoff, run_workers

    directory = sys.argv[1]
    SCHEDULE = {1: 0.0, 2: 0.0, 3: 0.0, 4: 2.0, 5: 0.0}  # attempt: seconds it lives before dying

    def worker():
        attempt = 0
        while True:
            try:
                os.close(os.open(os.path.join(directory, str(attempt)), os.O_CREAT | os.O_EXCL))
                break
            except FileExistsError:
                attempt += 1
        if attempt not in SCHEDULE:
            time.sleep(120)
        time.sleep(SCHEDULE[attempt])
        os._exit(3)

    logging.basicConfig(level="INFO", stream=sys.stderr, format="%(message)s")
    run_workers(worker, 2, backoff=RestartBackoff(first=0.05, most=10.0, healthy_after=1.0))
""")


def test_backoff_doubles_for_young_deaths_and_resets_after_healthy_uptime(tmp_path: Path) -> None:
    log = tmp_path / "supervisor.log"
    with open(log, "wb") as errors:
        proc = subprocess.Popen([sys.executable, "-c", SUPERVISED, str(tmp_path)], stderr=errors)
    try:
        pauses = lambda: [float(p) for p in re.findall(r"starting another in ([0-9.]+) s", log.read_text())]  # noqa: E731
        wait_for(lambda: len(pauses()) >= 5, timeout=30, what="five restarts")
        wait_for(lambda: len(list(tmp_path.glob("[0-9]*"))) >= 7, timeout=30, what="the seventh worker")
    finally:
        proc.send_signal(signal.SIGTERM)
        stop_process(proc)
    # 1, 2, 3 die young: 0.05, 0.1, 0.2; 4 served 2 s (healthy): back to 0.05; 5 dies young: 0.1
    assert pauses() == [0.05, 0.1, 0.2, 0.05, 0.1], log.read_text()
    assert "exit code 3" in log.read_text() and "Traceback" not in log.read_text()
